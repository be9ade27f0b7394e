import { Message } from 'didcomm-node'
import { fromString, toString } from 'uint8arrays'
import type { JweJson } from './jose.ts'
import { AnoncryptThreadError } from './anoncrypt-pool.ts'
import type { AnoncryptPool } from './anoncrypt-pool.ts'
import { createNativeJwe } from './native-jwe.ts'
import { padded } from './padding.ts'
import type { DIDResolver } from './resolver.ts'
import { didOf } from './resolver.ts'

/** A DIDComm v2 plaintext message, as the protocols see it. */
export interface PlainMessage {
  id: string
  type: string
  body: Record<string, unknown>
  typ?: string
  from?: string
  to?: string[]
  thid?: string
  pthid?: string
  created_time?: number
  expires_time?: number
  attachments?: Attachment[]
  return_route?: string
  [header: string]: unknown
}

export interface Attachment {
  id?: string
  media_type?: string
  data: { json?: unknown, base64?: string, base64url?: string, links?: string[], hash?: string, jws?: string }
  [field: string]: unknown
}

/** An attachment that carries no message, or carries it in invalid base64. */
export class AttachmentError extends Error {
  override name = 'AttachmentError'
}

/**
 * The message an attachment carries, as text: `data.json` serialised again, or `data.base64` /
 * `data.base64url` decoded (senders and mediators use all three).
 */
export function attachedMessage (attachment: Attachment | undefined): string {
  const data = attachment?.data
  if (data?.json !== undefined && data.json !== null) return JSON.stringify(data.json)
  const encoded = data?.base64 ?? data?.base64url
  if (typeof encoded !== 'string') throw new AttachmentError('no attached message (data.json, data.base64 or data.base64url)')
  try {
    return toString(fromString(encoded.replace(/=+$/, ''), data?.base64 !== undefined ? 'base64' : 'base64url'))
  } catch {
    throw new AttachmentError('attachment is not valid base64')
  }
}

export interface Secret {
  id: string
  type: 'JsonWebKey2020'
  privateKeyJwk: { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string, d: string }
}

/** The secret behind one of our key ids, if we hold it. */
export type SecretLookup = (kid: string) => Secret | undefined

/** The interface didcomm-node asks secrets through. */
interface SecretsResolver {
  get_secret(id: string): Promise<Secret | null>
  find_secrets(ids: string[]): Promise<string[]>
}

function secretsResolver (lookup: SecretLookup): SecretsResolver {
  return {
    async get_secret (id) { return lookup(id) ?? null },
    async find_secrets (ids) { return ids.filter(id => lookup(id) !== undefined) }
  }
}

export interface Unpacked {
  message: PlainMessage
  /** The DID that authenticated the message (authcrypt sender, or signer), if any. */
  sender?: string
  /** The key ids the JWE was encrypted to that we hold. */
  recipientKids: string[]
  /** Set when a layer was in Veramo 7's legacy JWE dialect (didcomm/legacy-jwe/): replies must be too. */
  dialect?: 'legacy'
}

/** The packed input could not be decrypted, verified or parsed. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError'
}

export interface PackOptions {
  /** Wrap in forwards for the recipient's mediator(s), from its DID document (senders do; replies never). */
  forward?: boolean
  /** Hide the sender's key id from mediators (authcrypt inside anoncrypt). */
  protectSender?: boolean
  /** Authcrypt in Veramo 7's legacy JWE dialect, for a client that spoke it (no forward, no protectSender). */
  dialect?: 'legacy'
  /** Pad the plaintext to its size bucket (didcomm/padding.ts), replacing any `pad` member it has. */
  pad?: boolean
}

export interface EnvelopeInit {
  /** Accept Veramo 7's legacy JWE dialect (and answer in it); off, such JWEs fail to decrypt. */
  legacyJwe?: boolean
  /** Threads for the anoncrypt layer of forwards; unset: this thread. The caller closes it. */
  anoncryptPool?: AnoncryptPool
}

export interface Envelope {
  unpack(packed: string): Promise<Unpacked>
  /** `packed`, which the caller has parsed already and found a JWE (`jwe`): it is not parsed again. */
  unpackJwe(packed: string, jwe: JweJson): Promise<Unpacked>
  /** Authcrypt `message` from `from` to `to`; by default not wrapped in a forward, as replies go back the way they came. */
  pack(message: PlainMessage, to: string, from: string, options?: PackOptions): Promise<string>
  /** Anoncrypt to every keyAgreement key of `to`. */
  anoncrypt(message: PlainMessage, to: string): Promise<string>
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function createEnvelope (resolver: DIDResolver, lookup: SecretLookup, init: EnvelopeInit = {}): Envelope {
  const secrets = secretsResolver(lookup)
  const native = createNativeJwe(resolver, lookup, { legacy: init.legacyJwe ?? false, anoncryptPool: init.anoncryptPool })

  async function packEncrypted (message: PlainMessage, to: string, from: string | null, options: PackOptions = {}): Promise<string> {
    const msg = new Message(message as ConstructorParameters<typeof Message>[0])
    try {
      const [packed] = await msg.pack_encrypted(to, from, null, resolver, secrets, { forward: options.forward ?? false, protect_sender: options.protectSender ?? false })
      return packed
    } finally {
      msg.free()
    }
  }

  /** `parsed`: the JSON of `packed`, when the caller has it; undefined, and the native path parses it. */
  async function open (packed: string, parsed?: unknown): Promise<Unpacked> {
    let unwrapped: Unpacked | undefined
    try {
      unwrapped = await native.unpack(packed, parsed)
    } catch (err) {
      if (err instanceof AnoncryptThreadError) throw err
      throw new EnvelopeError(errorText(err), { cause: err })
    }
    if (unwrapped !== undefined) return unwrapped
    let result: Awaited<ReturnType<typeof Message.unpack>>
    try {
      result = await Message.unpack(packed, resolver, secrets, { unwrap_re_wrapping_forward: false })
    } catch (err) {
      throw new EnvelopeError(errorText(err))
    }
    const [msg, meta] = result
    try {
      const message = msg.as_value() as unknown as PlainMessage
      const senderKid = meta.authenticated ? (meta.encrypted_from_kid ?? (meta.non_repudiation ? meta.sign_from : undefined)) : undefined
      return {
        message,
        sender: senderKid === undefined ? undefined : didOf(senderKid),
        recipientKids: meta.encrypted_to_kids ?? []
      }
    } finally {
      msg.free()
    }
  }

  return {
    async unpack (packed) {
      return await open(packed)
    },
    async unpackJwe (packed, jwe) {
      return await open(packed, jwe)
    },
    async pack (message, to, from, options = {}) {
      const pad = options.pad ?? false
      if (options.dialect === 'legacy') {
        try {
          return await native.pack(message, to, from, { legacy: true, pad }) as string
        } catch (err) {
          throw new EnvelopeError(errorText(err), { cause: err })
        }
      }
      const plain = options.forward !== true && options.protectSender !== true
      return (plain ? await native.pack(message, to, from, { pad }) : undefined) ?? await packEncrypted(pad ? padded(message) : message, to, from, options)
    },
    async anoncrypt (message, to) {
      return await packEncrypted(message, to, null)
    }
  }
}
