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
import { createDecipheriv, diffieHellman } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { hchacha } from '@noble/ciphers/chacha.js'
import { UnwrapError, checkedApv, concatKdf, decryptCbcHs512, decrypting, fromBase64url, ourRecipient, parseHeader, secretKey, unwrapKey, x25519Epk, x25519PublicKey } from './jose.ts'
import type { JweJson, PrivateKeyFor, Unwrapped } from './jose.ts'

export const ANONCRYPT_ALG = 'ECDH-ES+A256KW'

/** Content-encryption key length in bytes, by `enc`. */
const CEK_BYTES: Record<string, number> = { 'A256CBC-HS512': 64, A256GCM: 32, XC20P: 32 }

function aeadDecrypt (algorithm: 'aes-256-gcm' | 'chacha20-poly1305', key: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  if (nonce.length !== 12) throw new UnwrapError(`${algorithm} needs a 12-byte nonce`)
  const options = { authTagLength: 16 }
  // Two calls, as node:crypto's typings pick the decipher's type per algorithm.
  const decipher = algorithm === 'aes-256-gcm' ? createDecipheriv(algorithm, secretKey(key), nonce, options) : createDecipheriv(algorithm, secretKey(key), nonce, options)
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

/** Whether `enc` is a content encryption this code opens. */
export function contentDecryptable (enc: unknown): enc is string {
  return typeof enc === 'string' && DECRYPT[enc] !== undefined
}

/** A JWE's content, decrypted under `enc` with `cek` (whose length is checked); the AAD is the protected header. */
export function decryptContent (enc: string, cek: Buffer, jwe: Pick<JweJson, 'protected' | 'iv' | 'ciphertext' | 'tag'>): Buffer {
  if (cek.length !== CEK_BYTES[enc]) throw new UnwrapError(`a ${enc} key has ${CEK_BYTES[enc]} bytes, not ${cek.length}`)
  const decrypt = DECRYPT[enc] as typeof decryptGcm
  return decrypt(cek, fromBase64url(jwe.iv), fromBase64url(jwe.ciphertext), fromBase64url(jwe.tag), Buffer.from(jwe.protected, 'ascii'))
}

/**
 * The CPU-heavy half of an anoncrypt unwrap (X25519, key unwrap, content decryption), as plain data
 * a worker thread can take (didcomm/anoncrypt-pool.ts): the checks have passed and `kid` is ours.
 */
export interface AnoncryptJob {
  kid: string
  enc: string
  epk: string
  /** base64url, checked against the recipients. */
  apv: string
  encryptedKey: string
  jwe: Pick<JweJson, 'protected' | 'iv' | 'ciphertext' | 'tag'>
}

/**
 * An anoncrypt JWE to one of our X25519 keys, checked and ready to decrypt, or `undefined` when the
 * JWE is of a form this path leaves to the library. Throws UnwrapError when it is ours and breaks a rule.
 */
export function anoncryptJob (jwe: JweJson, privateKeyFor: PrivateKeyFor): { job: AnoncryptJob, privateKey: KeyObject, recipientKids: string[] } | undefined {
  const header = parseHeader(jwe.protected)
  const enc = header?.enc
  if (header?.alg !== ANONCRYPT_ALG || !contentDecryptable(enc)) return undefined
  const epk = x25519Epk(header)
  if (epk === undefined || typeof header.apv !== 'string' || header.apu !== undefined || header.skid !== undefined) return undefined
  checkedApv(jwe, header.apv)
  const ours = ourRecipient(jwe, privateKeyFor)
  if (ours === undefined) return undefined
  const { protected: protectedHeader, iv, ciphertext, tag } = jwe
  const job = { kid: ours.kid, enc, epk, apv: header.apv, encryptedKey: ours.encryptedKey, jwe: { protected: protectedHeader, iv, ciphertext, tag } }
  return { job, privateKey: ours.privateKey, recipientKids: ours.recipientKids }
}

/** The job's plaintext, decrypted with `privateKey` (its kid's). Throws UnwrapError when it does not decrypt. */
export function openAnoncrypt (job: AnoncryptJob, privateKey: KeyObject): string {
  return decrypting(() => {
    const kek = concatKdf(diffieHellman({ privateKey, publicKey: x25519PublicKey(job.epk) }), ANONCRYPT_ALG, Buffer.alloc(0), fromBase64url(job.apv))
    return decryptContent(job.enc, unwrapKey(kek, fromBase64url(job.encryptedKey)), job.jwe)
  })
}

/**
 * The payload of an anoncrypt JWE to one of our X25519 keys, or `undefined` when the JWE is of a
 * form this path leaves to the library. Throws UnwrapError when it is ours and fails.
 */
export function unwrapAnoncrypt (jwe: JweJson, privateKeyFor: PrivateKeyFor): Unwrapped | undefined {
  const ready = anoncryptJob(jwe, privateKeyFor)
  return ready === undefined ? undefined : { plaintext: openAnoncrypt(ready.job, ready.privateKey), recipientKids: ready.recipientKids }
}
