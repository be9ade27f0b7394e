/**
 * Opening the JWE dialect of Veramo 7 (its did-comm package over did-jwt), which didcomm-rust refuses:
 *
 * - authcrypt `ECDH-1PU+A256KW` per draft 03 of ECDH-1PU: Z = Ze ‖ Zs goes into Concat KDF without the
 *   content tag (draft 04, the one DIDComm v2 names, binds it), with empty `apu` and `apv`; the
 *   sender is named by `skid` alone;
 * - anoncrypt `ECDH-ES+A256KW` with an empty `apv` (not the hash of the recipients' kids);
 * - content in A256GCM (Veramo's default, also for authcrypt), A256CBC-HS512 or XC20P, the ephemeral
 *   key in the protected header.
 *
 * What still applies is checked as on the standard path: the sender key is one of the keyAgreement
 * keys of the DID `skid` names (senderKeyFor), the recipient is one of our keys, and every field is
 * bounded before any per-field work. A JWE with `apu` or `apv` is the standard dialect and is left to it.
 */
import { diffieHellman } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { DID_LIMITS } from '../resolver.ts'
import { contentDecryptable, decryptContent } from '../anoncrypt.ts'
import { UnwrapError, concatKdf, decrypting, fromBase64url, ourRecipient, parseHeader, unwrapKey, x25519Epk, x25519PublicKey } from '../jose.ts'
import type { JweJson, PrivateKeyFor, ProtectedHeader, Unwrapped } from '../jose.ts'

export const LEGACY_AUTHCRYPT_ALG = 'ECDH-1PU+A256KW'
export const LEGACY_ANONCRYPT_ALG = 'ECDH-ES+A256KW'

/**
 * Bounds on a legacy JWE's fields, checked before any key is looked up. Veramo encrypts to every
 * keyAgreement key of each recipient DID (two or three); a wrapped key is at most 72 bytes
 * (A256CBC-HS512's), a nonce 24 (XC20P's), a tag 32.
 */
export const LEGACY_LIMITS = { maxRecipients: 16, maxProtectedChars: 4096, maxKidChars: DID_LIMITS.maxLength, maxEncryptedKeyChars: 128, maxIvChars: 64, maxTagChars: 64 } as const

/** The header of a JWE in this dialect with algorithm `alg`, or undefined when the JWE is of another form. Throws when it is this dialect but out of bounds. */
function legacyHeader (jwe: JweJson, alg: string): ProtectedHeader & { enc: string } | undefined {
  if (jwe.protected.length > LEGACY_LIMITS.maxProtectedChars) return undefined
  const header = parseHeader(jwe.protected)
  if (header?.alg !== alg || !contentDecryptable(header.enc) || header.apu !== undefined || header.apv !== undefined) return undefined
  if (jwe.recipients.length === 0 || jwe.recipients.length > LEGACY_LIMITS.maxRecipients) throw new UnwrapError(`a JWE names 1 to ${LEGACY_LIMITS.maxRecipients} recipients`)
  const oversized = jwe.recipients.some(r => r.header.kid.length > LEGACY_LIMITS.maxKidChars || r.encrypted_key.length > LEGACY_LIMITS.maxEncryptedKeyChars) ||
    jwe.iv.length > LEGACY_LIMITS.maxIvChars || jwe.tag.length > LEGACY_LIMITS.maxTagChars
  if (oversized) throw new UnwrapError('a JWE field is longer than its algorithm allows')
  return header as ProtectedHeader & { enc: string }
}

/** Unwraps our recipient's content key with `kek(ourKey)` and decrypts the content. */
function open (jwe: JweJson, enc: string, ours: NonNullable<ReturnType<typeof ourRecipient>>, kek: (ourKey: KeyObject) => Buffer): string {
  return decrypting(() => decryptContent(enc, unwrapKey(kek(ours.privateKey), fromBase64url(ours.encryptedKey)), jwe))
}

/** The payload of a legacy anoncrypt JWE to one of our X25519 keys, or undefined when it is not one. */
export function unwrapLegacyAnoncrypt (jwe: JweJson, privateKeyFor: PrivateKeyFor): Unwrapped | undefined {
  const header = legacyHeader(jwe, LEGACY_ANONCRYPT_ALG)
  const epk = header === undefined ? undefined : x25519Epk(header)
  if (header === undefined || epk === undefined || header.skid !== undefined) return undefined
  const ours = ourRecipient(jwe, privateKeyFor)
  if (ours === undefined) return undefined
  const plaintext = open(jwe, header.enc, ours, key =>
    concatKdf(diffieHellman({ privateKey: key, publicKey: x25519PublicKey(epk) }), LEGACY_ANONCRYPT_ALG, Buffer.alloc(0), Buffer.alloc(0)))
  return { plaintext, recipientKids: ours.recipientKids }
}

/**
 * The payload of a legacy authcrypt JWE to one of our X25519 keys and the sender's key id, or
 * undefined when it is not one. Throws when `senderKeyFor` does not vouch for `skid`.
 */
export async function unwrapLegacyAuthcrypt (jwe: JweJson, privateKeyFor: PrivateKeyFor, senderKeyFor: (kid: string) => Promise<KeyObject | undefined>): Promise<(Unwrapped & { senderKid: string }) | undefined> {
  const header = legacyHeader(jwe, LEGACY_AUTHCRYPT_ALG)
  const epk = header === undefined ? undefined : x25519Epk(header)
  if (header === undefined || epk === undefined || typeof header.skid !== 'string') return undefined
  const senderKid = header.skid
  if (senderKid.length > LEGACY_LIMITS.maxKidChars || !senderKid.includes('#')) throw new UnwrapError('the sender key is not a DID URL')
  const ours = ourRecipient(jwe, privateKeyFor)
  if (ours === undefined) return undefined
  // Draft 03 binds no tag into the key wrap: another recipient could wrap new content under the
  // content key it unwrapped and pass it off as the sender's. So every recipient must be a key of
  // one DID, ours (what the standard path's apv check requires).
  if (new Set(ours.recipientKids.map(kid => kid.split('#')[0])).size !== 1) throw new UnwrapError('a legacy authcrypt JWE must have recipients of one DID only')
  // The library cannot open this dialect either: say why here.
  const senderKey = await senderKeyFor(senderKid)
  if (senderKey === undefined) throw new UnwrapError('the sender key is not an X25519 keyAgreement key of its DID')
  const plaintext = open(jwe, header.enc, ours, key => {
    const z = Buffer.concat([diffieHellman({ privateKey: key, publicKey: x25519PublicKey(epk) }), diffieHellman({ privateKey: key, publicKey: senderKey })])
    return concatKdf(z, LEGACY_AUTHCRYPT_ALG, Buffer.alloc(0), Buffer.alloc(0))
  })
  return { plaintext, recipientKids: ours.recipientKids, senderKid }
}
