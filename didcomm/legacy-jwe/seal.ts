/**
 * The node's replies to a client that spoke Veramo 7's dialect (open.ts), in that dialect: Veramo
 * derives the key-wrapping key by ECDH-1PU draft 03 and cannot open didcomm-rust's draft 04. The
 * form is Veramo's own authcrypt default: `ECDH-1PU+A256KW`, A256GCM content, the ephemeral key and
 * `skid` in the protected header, no `apu` or `apv`.
 */
import { createCipheriv, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AuthcryptKeys } from '../authcrypt.ts'
import { ENCRYPTED_MEDIA_TYPE, base64url, concatKdf, jweText, secretKey, wrapKey } from '../jose.ts'
import type { JweJson } from '../jose.ts'
import { LEGACY_AUTHCRYPT_ALG } from './open.ts'

const ENC = 'A256GCM'

/** `plaintext` authcrypted in the legacy dialect from `keys.senderKid` to every recipient key. */
export function sealLegacyAuthcrypt (plaintext: string, keys: AuthcryptKeys): string {
  const ephemeral = generateKeyPairSync('x25519')
  const { x } = ephemeral.publicKey.export({ format: 'jwk' })
  const header = { alg: LEGACY_AUTHCRYPT_ALG, typ: ENCRYPTED_MEDIA_TYPE, skid: keys.senderKid, epk: { kty: 'OKP', crv: 'X25519', x }, enc: ENC }
  const protectedHeader = base64url(Buffer.from(JSON.stringify(header)))
  const cek = randomBytes(32)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', secretKey(cek), iv, { authTagLength: 16 })
  cipher.setAAD(Buffer.from(protectedHeader, 'ascii'))
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  const recipients = keys.recipients.map(({ kid, key }) => {
    // Draft 03: Z = Ze ‖ Zs, and the KDF binds neither the content tag nor apu/apv.
    const z = Buffer.concat([diffieHellman({ privateKey: ephemeral.privateKey, publicKey: key }), diffieHellman({ privateKey: keys.senderKey, publicKey: key })])
    return { header: { kid }, encrypted_key: base64url(wrapKey(concatKdf(z, LEGACY_AUTHCRYPT_ALG, Buffer.alloc(0), Buffer.alloc(0)), cek)) }
  })
  const jwe: JweJson = { protected: protectedHeader, recipients, iv: base64url(iv), ciphertext: base64url(ciphertext), tag: base64url(cipher.getAuthTag()) }
  return jweText(jwe)
}
