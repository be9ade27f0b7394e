import { createHmac } from 'node:crypto'
import { pino } from 'pino'
import type { Logger } from 'pino'

export function createLogger (level: string): Logger {
  return pino({ level, base: { service: 'didcomm-mesh' } })
}

/** Log fields that hold a DID: the node's logger writes a keyed hash in their place. */
export const DID_FIELDS = ['did', 'next', 'from', 'client', 'recipient', 'origin'] as const
/** The log field that holds a client's IP address (the real one behind trusted proxies), hashed like a DID. */
export const IP_FIELD = 'ip'
/** Free-text fields (error messages, problem comments, retry reasons) scrubbed of DIDs and URLs. */
const TEXT_FIELDS = ['reason', 'comment'] as const

const DID_PATTERN = /did:[a-z0-9]+:[A-Za-z0-9._:%\-/?#=]+/g
const URL_PATTERN = /\b(?:https?|wss?):\/\/[^\s"'<>]+/g
// Socket and DNS errors name the address or host they failed on ("connect ECONNREFUSED 10.0.0.5:443").
const ADDRESS_PATTERN = /\b(E[A-Z_]{4,}) (?!<)\S+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g

/**
 * A DID's stand-in in logs: its method and an HMAC of it under a per-node secret. Lines of one node
 * about one DID still match each other, but nobody without the secret can tell which DID it is or
 * follow it into another node's logs (a slice of the DID itself would give away ~35 bits of its key).
 */
export function didHasher (secret: Uint8Array): (did: string) => string {
  return did => {
    const method = /^did:(?:peer:[0-9]|[a-z0-9]+)/.exec(did)?.[0] ?? 'did'
    return `${method}#${keyedHash(secret, did)}`
  }
}

function keyedHash (secret: Uint8Array, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex').slice(0, 12)
}

/** Replaces every DID in free text by its hash (by default `<did>`), every URL by `<url>` and every network address by `<address>`. */
export function scrubber (hash: (did: string) => string = () => '<did>'): (text: string) => string {
  return text => text.replace(DID_PATTERN, hash).replace(URL_PATTERN, '<url>')
    .replace(ADDRESS_PATTERN, (_match, code: string | undefined) => code === undefined ? '<address>' : `${code} <address>`)
}

/**
 * The node's logger: `parent` with serializers that hash the DID fields and scrub DIDs and URLs out of
 * errors, problem reports and retry reasons, so a log line never carries a full DID or a client endpoint.
 */
export function redactingLogger (parent: Logger, secret: Uint8Array): Logger {
  const hash = didHasher(secret)
  const scrub = scrubber(hash)
  const text = (value: unknown): unknown => typeof value === 'string' ? scrub(value) : value
  const err = (value: unknown): unknown => {
    const serialized = pino.stdSerializers.err(value as Error) as unknown as Record<string, unknown> | undefined
    if (typeof serialized !== 'object' || serialized === null) return serialized
    return Object.fromEntries(Object.entries(serialized).map(([k, v]) => [k, typeof v === 'string' ? scrub(v) : v]))
  }
  const problem = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, text(v)]))
  }
  return parent.child({}, {
    serializers: {
      ...Object.fromEntries(DID_FIELDS.map(field => [field, (v: unknown) => typeof v === 'string' ? hash(v) : v])),
      ...Object.fromEntries(TEXT_FIELDS.map(field => [field, text])),
      [IP_FIELD]: (v: unknown) => typeof v === 'string' ? `ip#${keyedHash(secret, v)}` : v,
      err,
      problem
    }
  })
}
