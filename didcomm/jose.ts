/**
 * The JOSE pieces the node's native JWE paths share (didcomm/anoncrypt.ts, didcomm/authcrypt.ts):
 * the general JSON serialisation, Concat KDF, AES key wrap and A256CBC-HS512, on node:crypto.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

export interface JweJson {
  protected: string
  recipients: Array<{ header: { kid: string }, encrypted_key: string }>
  iv: string
  ciphertext: string
  tag: string
}

/**
 * A JWE we made, in general JSON serialisation. Every member but the recipients' kids is base64url,
 * which JSON needs no escape for, so the text is put together rather than stringified: JSON.stringify
 * scans a pickup delivery's ciphertext (hundreds of KB) character by character, 5 times slower (measured).
 */
export function jweText (jwe: JweJson): string {
  return `{"protected":"${jwe.protected}","recipients":${JSON.stringify(jwe.recipients)},"iv":"${jwe.iv}","ciphertext":"${jwe.ciphertext}","tag":"${jwe.tag}"}`
}

/** JSON.parse, or undefined for text that is not JSON. */
export function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A JWE in general JSON serialisation, the only form DIDComm v2 uses for encrypted messages. */
export function isJweJson (value: unknown): value is JweJson {
  if (typeof value !== 'object' || value === null) return false
  const jwe = value as Record<string, unknown>
  return typeof jwe.protected === 'string' && typeof jwe.iv === 'string' && typeof jwe.ciphertext === 'string' && typeof jwe.tag === 'string' &&
    Array.isArray(jwe.recipients) && jwe.recipients.every(r => typeof r?.header?.kid === 'string' && typeof r.encrypted_key === 'string')
}

/** The fields of a DIDComm JWE's protected header this code reads. */
export interface ProtectedHeader {
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

/** Our X25519 private key for a key id, if we hold one. */
export type PrivateKeyFor = (kid: string) => KeyObject | undefined

/** A JWE that is ours to open but does not decrypt or breaks a DIDComm rule. */
export class UnwrapError extends Error {
  override name = 'UnwrapError'
}

export const PLAIN_TYP = 'application/didcomm-plain+json'
/** An encrypted message's JWE `typ`, and the content type it travels under. */
export const ENCRYPTED_MEDIA_TYPE = 'application/didcomm-encrypted+json'

/** RFC 3394's default initial value for AES key wrap. */
const KEY_WRAP_IV = Buffer.alloc(8, 0xa6)

/**
 * A symmetric key for node:crypto's ciphers and HMACs. Given raw bytes, Node 24 spends ~12 µs a call
 * checking what kind of key they are (a third of a forward's unwrap in the profile); a KeyObject, made
 * in under 1 µs, skips that (createCipheriv 15 → 3 µs).
 */
export function secretKey (bytes: Buffer): KeyObject {
  return createSecretKey(bytes)
}

export const base64url = (data: Uint8Array): string => Buffer.from(data).toString('base64url')
export const fromBase64url = (text: string): Buffer => Buffer.from(text, 'base64url')

function u32 (value: number): Buffer {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(value)
  return out
}

function lengthPrefixed (data: Uint8Array): Buffer {
  return Buffer.concat([u32(data.length), data])
}

/**
 * JWA Concat KDF (RFC 7518 §4.6.2) for a 256-bit key-wrapping key: one SHA-256 round. `ccTag`, for
 * ECDH-1PU key wrap, is appended to SuppPubInfo with its length (draft-madden-jose-ecdh-1pu-04 §2.3).
 */
export function concatKdf (z: Buffer, alg: string, apu: Uint8Array, apv: Uint8Array, ccTag?: Uint8Array): Buffer {
  const suppPubInfo = ccTag === undefined ? u32(256) : Buffer.concat([u32(256), lengthPrefixed(ccTag)])
  return createHash('sha256').update(Buffer.concat([u32(1), z, lengthPrefixed(Buffer.from(alg)), lengthPrefixed(apu), lengthPrefixed(apv), suppPubInfo])).digest()
}

export function wrapKey (kek: Buffer, key: Buffer): Buffer {
  const cipher = createCipheriv('id-aes256-wrap', secretKey(kek), KEY_WRAP_IV)
  return Buffer.concat([cipher.update(key), cipher.final()])
}

export function unwrapKey (kek: Buffer, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv('id-aes256-wrap', secretKey(kek), KEY_WRAP_IV)
  return Buffer.concat([decipher.update(wrapped), decipher.final()])
}

/** didcomm-rust's apv: sha256 of the recipients' kids, sorted, joined by '.'. */
export function recipientsApv (kids: readonly string[]): Buffer {
  return createHash('sha256').update([...kids].sort().join('.')).digest()
}

/** A256CBC-HS512's tag (RFC 7518 §5.2.2.1): HMAC-SHA-512 over aad ‖ iv ‖ ciphertext ‖ aad bit length, first 32 bytes. */
function cbcHs512Tag (macKey: Buffer, iv: Buffer, ciphertext: Buffer, aad: Buffer): Buffer {
  const aadBits = Buffer.alloc(8)
  aadBits.writeBigUInt64BE(BigInt(aad.length) * 8n)
  return createHmac('sha512', secretKey(macKey)).update(aad).update(iv).update(ciphertext).update(aadBits).digest().subarray(0, 32)
}

export function encryptCbcHs512 (cek: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): { ciphertext: Buffer, tag: Buffer } {
  const cipher = createCipheriv('aes-256-cbc', secretKey(cek.subarray(32)), iv)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { ciphertext, tag: cbcHs512Tag(cek.subarray(0, 32), iv, ciphertext, aad) }
}

export function decryptCbcHs512 (cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  if (tag.length !== 32 || !timingSafeEqual(cbcHs512Tag(cek.subarray(0, 32), iv, ciphertext, aad), tag)) throw new UnwrapError('authentication tag mismatch')
  const decipher = createDecipheriv('aes-256-cbc', secretKey(cek.subarray(32)), iv)
  return Buffer.concat([decipher.update(ciphertext), decipher.final()])
}

/** A public X25519 key as node:crypto uses it, from its JWK `x`. */
export function x25519PublicKey (x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })
}

export function parseHeader (encoded: string): ProtectedHeader | undefined {
  try {
    const header: unknown = JSON.parse(fromBase64url(encoded).toString('utf8'))
    return typeof header === 'object' && header !== null ? header as ProtectedHeader : undefined
  } catch {
    return undefined
  }
}

/** The ephemeral key's `x`, when it is an X25519 key (the only curve of this node's keys). */
export function x25519Epk (header: ProtectedHeader): string | undefined {
  const epk = header.epk
  return epk?.kty === 'OKP' && epk.crv === 'X25519' && typeof epk.x === 'string' ? epk.x : undefined
}

/** didcomm-rust's did_or_url: the DID is what precedes '#' (resolver.ts's didOf also cuts at '/' and '?'). */
function didOfKid (kid: string): string {
  const hash = kid.indexOf('#')
  return hash < 0 ? kid : kid.slice(0, hash)
}

/** didcomm-rust's rules for the recipients: apv is the hash of their kids, and they are keys of one DID. Returns apv's bytes. */
export function checkedApv (jwe: JweJson, apv: string): Buffer {
  const kids = jwe.recipients.map(recipient => recipient.header.kid)
  const bytes = fromBase64url(apv)
  if (!bytes.equals(recipientsApv(kids))) throw new UnwrapError('APV mismatch')
  if (kids.length === 0) throw new UnwrapError('no recipient keys')
  const did = didOfKid(kids[0] as string)
  if (kids.some(kid => didOfKid(kid) !== did || !kid.includes('#'))) throw new UnwrapError('recipient keys are outside of one DID')
  return bytes
}

/** The first recipient entry we hold a key for, as didcomm-rust picks it. */
export function ourRecipient (jwe: JweJson, privateKeyFor: PrivateKeyFor): { kid: string, encryptedKey: string, privateKey: KeyObject, recipientKids: string[] } | undefined {
  for (const recipient of jwe.recipients) {
    const privateKey = privateKeyFor(recipient.header.kid)
    if (privateKey !== undefined) return { kid: recipient.header.kid, encryptedKey: recipient.encrypted_key, privateKey, recipientKids: jwe.recipients.map(r => r.header.kid) }
  }
  return undefined
}

/** Runs a decryption; any failure becomes an UnwrapError, and the plaintext must be UTF-8. */
export function decrypting (decrypt: () => Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(decrypt())
  } catch (err) {
    if (err instanceof UnwrapError) throw err
    throw new UnwrapError(`unable to decrypt: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
