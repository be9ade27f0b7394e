/**
 * Native authcrypt, ECDH-1PU+A256KW with A256CBC-HS512 between X25519 keys, as didcomm-rust makes
 * and reads it: packing the node's replies (the library's WASM build takes ~50 ms for a pickup
 * delivery of 100 messages) and opening what clients send. test/unit/authcrypt.test.ts checks both
 * directions against the library.
 */
import { diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ENCRYPTED_MEDIA_TYPE, UnwrapError, base64url, checkedApv, concatKdf, decryptCbcHs512, decrypting, encryptCbcHs512, fromBase64url, jweText, ourRecipient, parseHeader, recipientsApv, unwrapKey, wrapKey, x25519Epk, x25519PublicKey } from './jose.ts'
import type { JweJson, PrivateKeyFor, Unwrapped } from './jose.ts'

export const AUTHCRYPT_ALG = 'ECDH-1PU+A256KW'
const ENC = 'A256CBC-HS512'

export interface AuthcryptKeys {
  senderKid: string
  senderKey: KeyObject
  recipients: Array<{ kid: string, key: KeyObject }>
}

/** `plaintext` (a DIDComm plaintext message) authcrypted from `keys.senderKid` to every recipient key. */
export function packAuthcrypt (plaintext: string, keys: AuthcryptKeys): string {
  const ephemeral = generateKeyPairSync('x25519')
  const { x } = ephemeral.publicKey.export({ format: 'jwk' })
  const kids = keys.recipients.map(recipient => recipient.kid)
  const apu = Buffer.from(keys.senderKid)
  const apv = recipientsApv(kids)
  const header = { typ: ENCRYPTED_MEDIA_TYPE, alg: AUTHCRYPT_ALG, enc: ENC, skid: keys.senderKid, apu: base64url(apu), apv: base64url(apv), epk: { kty: 'OKP', crv: 'X25519', x } }
  const protectedHeader = base64url(Buffer.from(JSON.stringify(header)))
  const cek = randomBytes(64)
  const iv = randomBytes(16)
  const { ciphertext, tag } = encryptCbcHs512(cek, iv, Buffer.from(plaintext), Buffer.from(protectedHeader, 'ascii'))
  const recipients = keys.recipients.map(({ kid, key }) => {
    // 1PU: Z = Ze ‖ Zs, the ephemeral then the sender's static agreement with the recipient; the KDF binds the content tag.
    const z = Buffer.concat([diffieHellman({ privateKey: ephemeral.privateKey, publicKey: key }), diffieHellman({ privateKey: keys.senderKey, publicKey: key })])
    return { header: { kid }, encrypted_key: base64url(wrapKey(concatKdf(z, AUTHCRYPT_ALG, apu, apv, tag), cek)) }
  })
  const jwe: JweJson = { protected: protectedHeader, recipients, iv: base64url(iv), ciphertext: base64url(ciphertext), tag: base64url(tag) }
  return jweText(jwe)
}

/**
 * The payload of an authcrypt JWE to one of our X25519 keys and the sender's key id, or `undefined`
 * for a form left to the library (another curve or algorithm, a sender key `senderKeyFor` cannot
 * give). Throws UnwrapError when it is ours and fails.
 */
export async function unwrapAuthcrypt (jwe: JweJson, privateKeyFor: PrivateKeyFor, senderKeyFor: (kid: string) => Promise<KeyObject | undefined>): Promise<(Unwrapped & { senderKid: string }) | undefined> {
  const header = parseHeader(jwe.protected)
  if (header?.alg !== AUTHCRYPT_ALG || header.enc !== ENC) return undefined
  const epk = x25519Epk(header)
  if (epk === undefined || typeof header.apv !== 'string' || typeof header.apu !== 'string') return undefined
  const apv = checkedApv(jwe, header.apv)
  const apu = fromBase64url(header.apu)
  const senderKid = apu.toString('utf8')
  if (header.skid !== undefined && header.skid !== senderKid) throw new UnwrapError('APU mismatch')
  if (!senderKid.includes('#')) throw new UnwrapError('the sender key is not a DID URL')
  const ours = ourRecipient(jwe, privateKeyFor)
  const senderKey = ours === undefined ? undefined : await senderKeyFor(senderKid)
  if (ours === undefined || senderKey === undefined) return undefined

  const tag = fromBase64url(jwe.tag)
  const plaintext = decrypting(() => {
    const z = Buffer.concat([diffieHellman({ privateKey: ours.privateKey, publicKey: x25519PublicKey(epk) }), diffieHellman({ privateKey: ours.privateKey, publicKey: senderKey })])
    const cek = unwrapKey(concatKdf(z, AUTHCRYPT_ALG, apu, apv, tag), fromBase64url(ours.encryptedKey))
    if (cek.length !== 64) throw new UnwrapError(`an ${ENC} key has 64 bytes, not ${cek.length}`)
    return decryptCbcHs512(cek, fromBase64url(jwe.iv), fromBase64url(jwe.ciphertext), tag, Buffer.from(jwe.protected, 'ascii'))
  })
  return { plaintext, recipientKids: ours.recipientKids, senderKid }
}
