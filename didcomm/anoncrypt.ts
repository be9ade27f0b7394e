/**
 * A native unwrap of the one layer a mediator opens on every forward: anoncrypt (ECDH-ES+A256KW) to
 * one of its X25519 keys, content in A256CBC-HS512, A256GCM or XC20P — every anoncrypt format
 * didcomm-rust produces. node:crypto does X25519, the key wrap, AES and ChaCha20-Poly1305; for
 * XChaCha20 @noble/ciphers derives the subkey (HChaCha20), which node:crypto lacks. ~0.2 ms a
 * forward where the library's WASM build takes ~1 ms (bench: node_unpack_per_s, unpack_ceiling_per_s).
 *
 * The checks are didcomm-rust's (apv = sha256 of the sorted recipient kids, recipients all of one
 * DID, the first kid we hold decrypts). A JWE in any other form (authcrypt, another curve) gives
 * `undefined` and the library unpacks it; test/unit/anoncrypt.test.ts cross-checks the two paths.
 */
import { createDecipheriv, createHash, createHmac, createPublicKey, diffieHellman, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { hchacha } from '@noble/ciphers/chacha.js'

export const ANONCRYPT_ALG = 'ECDH-ES+A256KW'

export interface JweJson {
  protected: string
  recipients: Array<{ header: { kid: string }, encrypted_key: string }>
  iv: string
  ciphertext: string
  tag: string
}

interface ProtectedHeader {
  alg?: unknown
  enc?: unknown
  apu?: unknown
  apv?: unknown
  skid?: unknown
  epk?: { kty?: unknown, crv?: unknown, x?: unknown }
}

export interface Unwrapped {
  /** The decrypted payload, as text. */
  plaintext: string
  /** Every key id the JWE was encrypted to, in its order. */
  recipientKids: string[]
}

/** The JWE is anoncrypt to us but does not decrypt or breaks a DIDComm rule. */
export class UnwrapError extends Error {
  override name = 'UnwrapError'
}

/** Content-encryption key length in bytes, by `enc`. */
const CEK_BYTES: Record<string, number> = { 'A256CBC-HS512': 64, A256GCM: 32, XC20P: 32 }
/** RFC 3394's default initial value for AES key wrap. */
const KEY_WRAP_IV = Buffer.alloc(8, 0xa6)

const bytes = (text: string): Buffer => Buffer.from(text, 'base64url')

function u32 (value: number): Buffer {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(value)
  return out
}

function lengthPrefixed (data: Uint8Array): Buffer {
  return Buffer.concat([u32(data.length), data])
}

/** JWA Concat KDF (RFC 7518 §4.6.2) for a 256-bit key: one SHA-256 round. */
function concatKdf (z: Buffer, alg: string, apu: Buffer, apv: Buffer): Buffer {
  return createHash('sha256').update(Buffer.concat([u32(1), z, lengthPrefixed(Buffer.from(alg)), lengthPrefixed(apu), lengthPrefixed(apv), u32(256)])).digest()
}

function unwrapKey (kek: Buffer, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv('id-aes256-wrap', kek, KEY_WRAP_IV)
  return Buffer.concat([decipher.update(wrapped), decipher.final()])
}

/** A256CBC-HS512 (RFC 7518 §5.2): HMAC-SHA-512 over aad ‖ iv ‖ ciphertext ‖ aad bit length, first 32 bytes. */
function decryptCbcHs512 (cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  const aadBits = Buffer.alloc(8)
  aadBits.writeBigUInt64BE(BigInt(aad.length) * 8n)
  const mac = createHmac('sha512', cek.subarray(0, 32)).update(aad).update(iv).update(ciphertext).update(aadBits).digest().subarray(0, 32)
  if (tag.length !== 32 || !timingSafeEqual(mac, tag)) throw new UnwrapError('authentication tag mismatch')
  const decipher = createDecipheriv('aes-256-cbc', cek.subarray(32), iv)
  return Buffer.concat([decipher.update(ciphertext), decipher.final()])
}

function aeadDecrypt (algorithm: 'aes-256-gcm' | 'chacha20-poly1305', key: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  if (nonce.length !== 12) throw new UnwrapError(`${algorithm} needs a 12-byte nonce`)
  const options = { authTagLength: 16 }
  // Two calls, as node:crypto's typings pick the decipher's type per algorithm.
  const decipher = algorithm === 'aes-256-gcm' ? createDecipheriv(algorithm, key, nonce, options) : createDecipheriv(algorithm, key, nonce, options)
  decipher.setAAD(aad, { plaintextLength: ciphertext.length })
  decipher.setAuthTag(tag)
  return Buffer.concat([decipher.update(ciphertext), decipher.final()])
}

function decryptGcm (cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  return aeadDecrypt('aes-256-gcm', cek, iv, ciphertext, tag, aad)
}

/** Little-endian 32-bit words, as ChaCha reads keys and nonces. */
function words (data: Uint8Array): Uint32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  return Uint32Array.from({ length: data.length / 4 }, (_, i) => view.getUint32(i * 4, true))
}

const CHACHA_SIGMA = words(Buffer.from('expand 32-byte k'))

/** XChaCha20-Poly1305: HChaCha20 turns the key and the nonce's first 16 bytes into a subkey for ChaCha20-Poly1305. */
function decryptXc20p (cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  if (iv.length !== 24) throw new UnwrapError('XC20P needs a 24-byte nonce')
  const subkeyWords = new Uint32Array(8)
  hchacha(CHACHA_SIGMA, words(cek), words(iv.subarray(0, 16)), subkeyWords)
  const subkey = Buffer.alloc(32)
  subkeyWords.forEach((word, i) => subkey.writeUInt32LE(word, i * 4))
  return aeadDecrypt('chacha20-poly1305', subkey, Buffer.concat([Buffer.alloc(4), iv.subarray(16)]), ciphertext, tag, aad)
}

const DECRYPT: Record<string, typeof decryptGcm> = { 'A256CBC-HS512': decryptCbcHs512, A256GCM: decryptGcm, XC20P: decryptXc20p }

function parseHeader (encoded: string): ProtectedHeader | undefined {
  try {
    const header: unknown = JSON.parse(bytes(encoded).toString('utf8'))
    return typeof header === 'object' && header !== null ? header as ProtectedHeader : undefined
  } catch {
    return undefined
  }
}

function didOfKid (kid: string): string {
  const hash = kid.indexOf('#')
  return hash < 0 ? kid : kid.slice(0, hash)
}

/** didcomm-rust's apv: sha256 of the recipients' kids, sorted, joined by '.'. */
function expectedApv (kids: string[]): Buffer {
  return createHash('sha256').update([...kids].sort().join('.')).digest()
}

function checkRecipients (kids: string[]): void {
  const first = kids[0]
  if (first === undefined) throw new UnwrapError('no recipient keys')
  const did = didOfKid(first)
  if (kids.some(kid => didOfKid(kid) !== did || !kid.includes('#'))) throw new UnwrapError('recipient keys are outside of one DID')
}

/**
 * The payload of an anoncrypt JWE to one of our X25519 keys (`privateKeyFor(kid)`), or `undefined`
 * when the JWE is of a form this path leaves to the library. Throws UnwrapError when it is ours and fails.
 */
export function unwrapAnoncrypt (jwe: JweJson, privateKeyFor: (kid: string) => KeyObject | undefined): Unwrapped | undefined {
  const header = parseHeader(jwe.protected)
  const enc = header?.enc
  if (header?.alg !== ANONCRYPT_ALG || typeof enc !== 'string' || DECRYPT[enc] === undefined) return undefined
  const epk = header.epk
  if (epk?.kty !== 'OKP' || epk.crv !== 'X25519' || typeof epk.x !== 'string') return undefined
  if (typeof header.apv !== 'string' || header.apu !== undefined || header.skid !== undefined) return undefined

  const recipientKids = jwe.recipients.map(recipient => recipient.header.kid)
  if (!bytes(header.apv).equals(expectedApv(recipientKids))) throw new UnwrapError('APV mismatch')
  checkRecipients(recipientKids)
  const index = recipientKids.findIndex(kid => privateKeyFor(kid) !== undefined)
  if (index < 0) return undefined
  const ours = jwe.recipients[index] as JweJson['recipients'][number]
  const privateKey = privateKeyFor(ours.header.kid) as KeyObject

  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: epk.x }, format: 'jwk' })
    const z = diffieHellman({ privateKey, publicKey })
    const kek = concatKdf(z, ANONCRYPT_ALG, Buffer.alloc(0), bytes(header.apv))
    const cek = unwrapKey(kek, bytes(ours.encrypted_key))
    if (cek.length !== CEK_BYTES[enc]) throw new UnwrapError(`a ${enc} key has ${CEK_BYTES[enc]} bytes, not ${cek.length}`)
    const decrypt = DECRYPT[enc] as typeof decryptGcm
    const plaintext = decrypt(cek, bytes(jwe.iv), bytes(jwe.ciphertext), bytes(jwe.tag), Buffer.from(jwe.protected, 'ascii'))
    return { plaintext: new TextDecoder('utf-8', { fatal: true }).decode(plaintext), recipientKids }
  } catch (err) {
    if (err instanceof UnwrapError) throw err
    throw new UnwrapError(`unable to decrypt: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
