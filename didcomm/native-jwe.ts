/**
 * The node's hot-path JWEs done with node:crypto instead of the didcomm library's WASM: opening
 * anoncrypt to our keys (every forward) and authcrypting our replies (pickup deliveries above all).
 * Each returns `undefined` for a form it does not handle, and the caller uses the library.
 */
import { createPrivateKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { anoncryptJob, unwrapAnoncrypt } from './anoncrypt.ts'
import type { AnoncryptPool } from './anoncrypt-pool.ts'
import { packAuthcrypt, unwrapAuthcrypt } from './authcrypt.ts'
import type { AuthcryptKeys } from './authcrypt.ts'
import type { PlainMessage, SecretLookup, Unpacked } from './envelope.ts'
import { PLAIN_TYP, UnwrapError, isJweJson, parseJson, x25519PublicKey } from './jose.ts'
import type { JweJson, Unwrapped } from './jose.ts'
import { unwrapLegacyAnoncrypt, unwrapLegacyAuthcrypt } from './legacy-jwe/open.ts'
import { paddedJson } from './padding.ts'
import { sealLegacyAuthcrypt } from './legacy-jwe/seal.ts'
import type { DIDResolver } from './resolver.ts'
import { didOf } from './resolver.ts'

export interface NativeJwe {
  /**
   * A JWE opened natively (anoncrypt, authcrypt, or authcrypt inside anoncrypt); `parsed` is its JSON
   * when the caller has it already. Throws UnwrapError when it is ours and fails.
   */
  unpack(packed: string, parsed?: unknown): Promise<Unpacked | undefined>
  /**
   * `message` authcrypted from `from` to `to`, when both have X25519 keys we can use; in Veramo's
   * legacy dialect when `legacy` (which only this path speaks: it throws when it cannot); its
   * plaintext padded to a size bucket when `pad`.
   */
  pack(message: PlainMessage, to: string, from: string, options?: { legacy?: boolean, pad?: boolean }): Promise<string | undefined>
}

export interface NativeJweInit {
  /** Open Veramo 7's legacy JWE dialect too (didcomm/legacy-jwe/). */
  legacy?: boolean
  /** Threads that decrypt anoncrypt layers (the checks stay here); unset: decrypted on this thread. */
  anoncryptPool?: AnoncryptPool
}

/** Our X25519 private keys as node:crypto KeyObjects, made once per key id. */
function x25519Keys (lookup: SecretLookup): (kid: string) => KeyObject | undefined {
  const made = new Map<string, KeyObject>()
  return kid => {
    const cached = made.get(kid)
    if (cached !== undefined) return cached
    const jwk = lookup(kid)?.privateKeyJwk
    if (jwk?.crv !== 'X25519') return undefined
    const key = createPrivateKey({ key: jwk, format: 'jwk' })
    made.set(kid, key)
    return key
  }
}

/**
 * A payload handed over as is: a plaintext message without from_prior (anything else, the library
 * decides). Veramo leaves `typ` out of what it encrypts, so in its dialect the typ may be missing.
 */
function plainMessage (value: unknown, legacy: boolean): PlainMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const message = value as Partial<PlainMessage>
  const plain = (message.typ === PLAIN_TYP || (legacy && message.typ === undefined)) && typeof message.id === 'string' && typeof message.type === 'string' &&
    typeof message.body === 'object' && message.body !== null && message.from_prior === undefined
  return plain ? message as PlainMessage : undefined
}

export function createNativeJwe (resolver: DIDResolver, lookup: SecretLookup, init: NativeJweInit = {}): NativeJwe {
  const privateKeyFor = x25519Keys(lookup)
  const legacy = init.legacy ?? false
  const pool = init.anoncryptPool

  async function unwrapStandardAnoncrypt (jwe: JweJson): Promise<Unwrapped | undefined> {
    if (pool === undefined) return unwrapAnoncrypt(jwe, privateKeyFor)
    const ready = anoncryptJob(jwe, privateKeyFor)
    return ready === undefined ? undefined : { plaintext: await pool.open(ready.job, ready.privateKey), recipientKids: ready.recipientKids }
  }

  /** didcomm-rust's choice: the sender's first keyAgreement key we hold, to every keyAgreement key of the recipient (or the one named). */
  async function authcryptKeys (to: string, from: string): Promise<AuthcryptKeys | undefined> {
    const [fromDoc, toDoc] = await Promise.all([resolver.resolve(didOf(from)), resolver.resolve(didOf(to))])
    const senderKid = from.includes('#') ? from : fromDoc?.keyAgreement.find(kid => privateKeyFor(kid) !== undefined)
    const senderKey = senderKid === undefined ? undefined : privateKeyFor(senderKid)
    const kids = to.includes('#') ? [to] : toDoc?.keyAgreement ?? []
    // A Map, not a find per kid: a document's key lists come from outside.
    const byId = new Map(toDoc?.verificationMethod.map(method => [method.id, method]))
    const methods = kids.map(kid => byId.get(kid))
    if (senderKid === undefined || senderKey === undefined || kids.length === 0) return undefined
    if (methods.some(method => method?.publicKeyJwk.crv !== 'X25519')) return undefined
    return { senderKid, senderKey, recipients: methods.map(method => ({ kid: method?.id as string, key: x25519PublicKey(method?.publicKeyJwk.x as string) })) }
  }

  /** The sender's X25519 key, when `kid` is one of the keyAgreement keys of its DID. */
  async function senderKeyFor (kid: string): Promise<KeyObject | undefined> {
    const doc = await resolver.resolve(didOf(kid))
    const method = doc?.keyAgreement.includes(kid) === true ? doc.verificationMethod.find(m => m.id === kid) : undefined
    return method?.publicKeyJwk.crv === 'X25519' ? x25519PublicKey(method.publicKeyJwk.x) : undefined
  }

  return {
    // The library's order: an anoncrypt layer, then an authcrypt one, then the plaintext.
    async unpack (packed, parsed = parseJson(packed)) {
      if (!isJweJson(parsed)) return undefined
      const standardAnoncrypted = await unwrapStandardAnoncrypt(parsed)
      const legacyAnoncrypted = standardAnoncrypted === undefined && legacy ? unwrapLegacyAnoncrypt(parsed, privateKeyFor) : undefined
      const anoncrypted = standardAnoncrypted ?? legacyAnoncrypted
      const inner = anoncrypted === undefined ? parsed : parseJson(anoncrypted.plaintext)
      const standardAuthcrypted = isJweJson(inner) ? await unwrapAuthcrypt(inner, privateKeyFor, senderKeyFor) : undefined
      const legacyAuthcrypted = standardAuthcrypted === undefined && legacy && isJweJson(inner) ? await unwrapLegacyAuthcrypt(inner, privateKeyFor, senderKeyFor) : undefined
      const authcrypted = standardAuthcrypted ?? legacyAuthcrypted
      if (anoncrypted === undefined && authcrypted === undefined) return undefined
      const isLegacy = legacyAnoncrypted !== undefined || legacyAuthcrypted !== undefined
      const message = plainMessage(authcrypted === undefined ? inner : parseJson(authcrypted.plaintext), isLegacy)
      if (message === undefined) {
        // The library does not speak the legacy dialect: it could not do better.
        if (isLegacy) throw new UnwrapError('the payload is not a DIDComm plaintext message')
        return undefined
      }
      const recipientKids = anoncrypted?.recipientKids ?? authcrypted?.recipientKids ?? []
      return { message, recipientKids, ...(authcrypted === undefined ? {} : { sender: didOf(authcrypted.senderKid) }), ...(isLegacy ? { dialect: 'legacy' as const } : {}) }
    },

    async pack (message, to, from, { legacy: legacyDialect = false, pad = false } = {}) {
      const keys = await authcryptKeys(to, from)
      const plaintext = pad ? paddedJson(JSON.stringify({ ...message, typ: PLAIN_TYP, pad: undefined })) : JSON.stringify({ ...message, typ: PLAIN_TYP })
      if (legacyDialect) {
        if (keys === undefined) throw new UnwrapError('cannot answer in the legacy JWE dialect: the recipient has no X25519 keyAgreement key')
        return sealLegacyAuthcrypt(plaintext, keys)
      }
      return keys === undefined ? undefined : packAuthcrypt(plaintext, keys)
    }
  }
}
