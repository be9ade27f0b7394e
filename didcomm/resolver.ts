import { sha256 } from '@noble/hashes/sha2.js'
import { concat, fromString, toString } from 'uint8arrays'
import { DidWebAnswerError, DidWebError, didWebUrl } from './did-web.ts'
import { ByteLru } from './lru.ts'
import { decodeMultikey, ed25519ToX25519, encodeMultikey, jwkToPublicKey, publicKeyToJwk } from './multikey.ts'
import type { KeyType } from './multikey.ts'

export interface VerificationMethod { id: string, type: string, controller: string, publicKeyJwk: { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string } }
export interface DIDCommService { id: string, type: 'DIDCommMessaging', serviceEndpoint: { uri: string, accept: string[], routing_keys: string[] } }
export interface DIDDoc { id: string, alsoKnownAs?: string[], keyAgreement: string[], authentication: string[], verificationMethod: VerificationMethod[], service: DIDCommService[] }
/** The shape didcomm-node calls; null means "DID not found". */
export interface DIDResolver { resolve(did: string): Promise<DIDDoc | null> }

/** Unsupported DID method, malformed DID, or a DID that could not be found. */
export class DIDResolutionError extends Error {
  override name = 'DIDResolutionError'
}

export interface PeerDid2Service { uri: string, accept?: string[], routingKeys?: string[] }

type Json = Record<string, unknown>

/**
 * Bounds on a DID from outside, checked before any per-key work: real clients' DIDs run to about a
 * kilobyte (a pairwise did:peer:2 naming its mediator's DID) and hold two or three keys.
 */
export const DID_LIMITS = { maxLength: 8192, maxKeys: 32, maxServices: 8 } as const

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function malformed (message: string): DIDResolutionError {
  return new DIDResolutionError(message)
}

function array (v: unknown, what: string): unknown[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw malformed(`${what} must be an array`)
  return v
}

function bounded (list: unknown[], max: number, what: string): unknown[] {
  if (list.length > max) throw malformed(`more than ${max} ${what}`)
  return list
}

function strings (v: unknown, what: string): string[] {
  const list = array(v, what)
  if (!list.every(s => typeof s === 'string')) throw malformed(`${what} must hold strings`)
  return list as string[]
}

/** Strips the path, query and fragment of a DID URL. */
export function didOf (didOrUrl: string): string {
  const end = didOrUrl.search(/[/?#]/)
  return end === -1 ? didOrUrl : didOrUrl.slice(0, end)
}

function absolute (did: string, id: string): string {
  if (id.startsWith('#')) return did + id
  if (id.startsWith('did:')) return id
  throw malformed(`id ${id} is neither a fragment nor a DID URL`)
}

// didcomm-rust is only fed JsonWebKey2020 VMs with absolute ids, whatever the source document used.
function jwkMethod (did: string, id: string, type: KeyType, publicKey: Uint8Array): VerificationMethod {
  return { id: absolute(did, id), type: 'JsonWebKey2020', controller: did, publicKeyJwk: publicKeyToJwk(type, publicKey) }
}

function emptyDoc (did: string): DIDDoc {
  return { id: did, keyAgreement: [], authentication: [], verificationMethod: [], service: [] }
}

// Expands the did:peer:2 service abbreviations; unabbreviated keys pass through untouched.
const ABBREVIATIONS: Record<string, string> = { t: 'type', s: 'serviceEndpoint', r: 'routingKeys', a: 'accept' }

function expand (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand)
  if (!isObject(v)) return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => {
    const key = ABBREVIATIONS[k] ?? k
    return [key, key === 'type' && x === 'dm' ? 'DIDCommMessaging' : expand(x)]
  }))
}

// Older encoders put routingKeys/accept beside a string serviceEndpoint; newer ones inside an object.
function endpoint (e: unknown, service: Json): DIDCommService['serviceEndpoint'] {
  const o = typeof e === 'string' ? { uri: e } : e
  if (!isObject(o) || typeof o.uri !== 'string' || o.uri === '') throw malformed('DIDCommMessaging service endpoint has no uri')
  const accept = strings(o.accept ?? service.accept, 'accept')
  return {
    uri: o.uri,
    // Old encoders emit `a: []`, meaning nothing more than the default.
    accept: accept.length > 0 ? accept : ['didcomm/v2'],
    routing_keys: strings(o.routingKeys ?? o.routing_keys ?? service.routingKeys ?? service.routing_keys, 'routingKeys')
  }
}

/** Services numbered in order (`#service`, `#service-1`, ...) unless they carry an id; non-DIDComm ones dropped. */
function didcommServices (did: string, services: unknown[]): DIDCommService[] {
  return bounded(services, DID_LIMITS.maxServices, 'services').flatMap((s, i): DIDCommService[] => {
    if (!isObject(s)) throw malformed('a service must be an object')
    const id = typeof s.id === 'string' ? absolute(did, s.id) : `${did}#service${i === 0 ? '' : `-${i}`}`
    if (s.type !== 'DIDCommMessaging') return []
    const endpoints = bounded(Array.isArray(s.serviceEndpoint) ? s.serviceEndpoint : [s.serviceEndpoint], DID_LIMITS.maxServices, 'service endpoints')
    return endpoints.map((e, j) => ({ id: j === 0 ? id : `${id}-${j}`, type: 'DIDCommMessaging', serviceEndpoint: endpoint(e, s) }))
  })
}

function decodeServiceElement (value: string): unknown {
  let json: unknown
  try {
    json = JSON.parse(toString(fromString(value.replace(/=+$/, ''), 'base64url')))
  } catch {
    throw malformed(`service element is not base64url JSON: ${value.slice(0, 60)}`)
  }
  return expand(json)
}

// https://identity.foundation/peer-did-method-spec/ numalgo 2; keys numbered #key-1.. across all key elements.
function resolvePeer2 (did: string): DIDDoc {
  const [head, ...elements] = did.slice('did:peer:2'.length).split('.')
  if (head !== '' || elements.length === 0) throw malformed(`malformed did:peer:2: ${did.slice(0, 60)}`)
  bounded(elements, DID_LIMITS.maxKeys + DID_LIMITS.maxServices, 'did:peer:2 elements')
  const doc = emptyDoc(did)
  const services: unknown[] = []
  let keys = 0
  for (const element of elements) {
    const code = element.slice(0, 1)
    const value = element.slice(1)
    if (code === 'S') {
      services.push(...[decodeServiceElement(value)].flat())
      continue
    }
    if (!['A', 'E', 'V', 'I', 'D'].includes(code)) throw malformed(`unknown did:peer:2 purpose code in ${element.slice(0, 60)}`)
    const id = `#key-${++keys}`
    // Assertion, capability invocation and delegation keys still take a number but mean nothing to DIDComm.
    if (code !== 'E' && code !== 'V') continue
    const { type, publicKey } = decodeMultikey(value)
    doc.verificationMethod.push(jwkMethod(did, id, type, publicKey))
    ;(code === 'E' ? doc.keyAgreement : doc.authentication).push(did + id)
  }
  doc.service = didcommServices(did, services)
  return doc
}

// Multikey, Ed25519VerificationKey2020 and X25519KeyAgreementKey2020 all carry a multicodec multibase key.
function inputMethod (did: string, vm: unknown): VerificationMethod {
  if (!isObject(vm) || typeof vm.id !== 'string') throw malformed('a verification method needs an id')
  const { type, publicKey } = typeof vm.publicKeyMultibase === 'string'
    ? decodeMultikey(vm.publicKeyMultibase)
    : jwkToPublicKey(vm.publicKeyJwk)
  return jwkMethod(did, vm.id, type, publicKey)
}

function fromInputDoc (input: Json, did: string, alsoKnownAs?: string): DIDDoc {
  const methods = new Map<string, VerificationMethod>()
  const add = (vm: unknown): string => {
    const method = inputMethod(did, vm)
    methods.set(method.id, method)
    return method.id
  }
  bounded(array(input.verificationMethod, 'verificationMethod'), DID_LIMITS.maxKeys, 'verification methods').forEach(add)
  // Relationships hold references or embedded methods.
  const relationship = (v: unknown, what: string): string[] =>
    bounded(array(v, what), DID_LIMITS.maxKeys, what).map(r => typeof r === 'string' ? absolute(did, r) : add(r))
  const keyAgreement = relationship(input.keyAgreement, 'keyAgreement')
  const authentication = relationship(input.authentication, 'authentication')
  const dangling = [...keyAgreement, ...authentication].find(id => !methods.has(id))
  if (dangling !== undefined) throw malformed(`${dangling} is not a verification method of the document`)
  if (methods.size > DID_LIMITS.maxKeys) throw malformed(`more than ${DID_LIMITS.maxKeys} verification methods`)
  return {
    id: did,
    ...(alsoKnownAs === undefined ? {} : { alsoKnownAs: [alsoKnownAs] }),
    keyAgreement,
    authentication,
    verificationMethod: [...methods.values()],
    service: didcommServices(did, array(input.service, 'service'))
  }
}

// https://identity.foundation/did-peer-4/: hash = base58btc multibase of the sha2-256 multihash of the encoded document.
function peer4Hash (encoded: string): string {
  return 'z' + toString(concat([Uint8Array.of(0x12, 0x20), sha256(fromString(encoded))]), 'base58btc')
}

/** The input document of a long-form did:peer:4, once its hash is verified. */
function decodePeer4 (hash: string, encoded: string): Json {
  if (peer4Hash(encoded) !== hash) throw malformed('did:peer:4 hash does not match its encoded document')
  const bytes = fromString(encoded.slice(1), 'base58btc')
  // Multicodec json (0x0200) as a varint.
  if (bytes[0] !== 0x80 || bytes[1] !== 0x04) throw malformed('did:peer:4 document is not multicodec json')
  const input: unknown = JSON.parse(toString(bytes.subarray(2)))
  if (!isObject(input)) throw malformed('did:peer:4 document is not a JSON object')
  return input
}

const B58 = '[1-9A-HJ-NP-Za-km-z]+'
const PEER4 = new RegExp(`^did:peer:4(z${B58})(?::(z${B58}))?$`)

function resolveDidKey (did: string): DIDDoc {
  const mb = did.slice('did:key:'.length)
  const { type, publicKey } = decodeMultikey(mb)
  const doc = emptyDoc(did)
  const add = (list: string[], t: KeyType, key: Uint8Array, keyMb: string): void => {
    doc.verificationMethod.push(jwkMethod(did, `#${keyMb}`, t, key))
    list.push(`${did}#${keyMb}`)
  }
  if (type === 'X25519') {
    add(doc.keyAgreement, type, publicKey, mb)
  } else {
    add(doc.authentication, type, publicKey, mb)
    const x25519 = ed25519ToX25519(publicKey)
    add(doc.keyAgreement, 'X25519', x25519, encodeMultikey('X25519', x25519))
  }
  return doc
}

export interface ResolverInit {
  cacheBytes?: number
  /**
   * Fetches a did:web document (the JSON at its HTTPS URL), with whatever rules the caller sets on
   * where it may connect; without it did:web is not resolved.
   */
  fetchDidWeb?: (url: string) => Promise<unknown>
  /** Documents of DIDs this party serves itself (its own did:web), resolved without fetching. */
  own?: (did: string) => unknown
  /** How long a fetched did:web document is used before it is fetched again. */
  didWebTtlMs?: number
  /** did:web documents fetched at once; a did:web needing another fetch meanwhile fails at once. */
  maxDidWebFetches?: number
}

/** How long a did:web that could not be resolved, or a host that could not be reached, is not fetched again. */
const DID_WEB_FAILURE_MS = 30_000

/**
 * A did:web failure that says nothing of the DID's document (its host did not answer, or too many
 * fetches were running): not remembered for the DID, which may resolve once its host or the node is free.
 */
class DidWebUnavailableError extends DIDResolutionError {}

export function createResolver (init: ResolverInit = {}): DIDResolver & { resolveOrThrow(did: string): Promise<DIDDoc> } {
  const cacheBytes = init.cacheBytes ?? 16 * 1024 * 1024
  const didWebTtlMs = init.didWebTtlMs ?? 5 * 60_000
  // Resolving a did:peer is pure, so its cached documents never go stale; a did:web's are used for
  // didWebTtlMs, and a did:web that failed stays failed for a while (anyone can name one as `next`
  // or `skid`: each must not cost a fetch). Keys are DIDs from outside, so the cache is bounded by the bytes
  // its documents take (their JSON length, a fair proxy).
  const cache = new ByteLru<{ doc: DIDDoc | DIDResolutionError, until: number }>(cacheBytes, (did, { doc }) => did.length + (doc instanceof Error ? 200 : JSON.stringify(doc).length))
  // did:peer:4 short form -> long form; the short form alone carries no document.
  const longForms = new ByteLru<string>(cacheBytes / 4, (short, long) => short.length + long.length)
  // Hosts (with their ports) that did not answer, until when. Keyed by host, not DID: new path
  // segments must not buy new connections to a host that is down or does not speak HTTPS. A host
  // that answers without a document is not listed, or one bad path would block its good ones.
  const failedHosts = new ByteLru<number>(cacheBytes / 64, host => host.length + 64)
  // The fetch under way for each URL, shared by all who ask meanwhile; its size bounds the fetches at once.
  const fetching = new Map<string, Promise<unknown>>()
  const maxDidWebFetches = init.maxDidWebFetches ?? 8

  async function fetchDidWeb (url: string, fetch: (url: string) => Promise<unknown>): Promise<unknown> {
    const host = new URL(url).host
    if ((failedHosts.get(host) ?? 0) > Date.now()) throw new DidWebUnavailableError('the did:web host did not answer a moment ago')
    let pending = fetching.get(url)
    if (pending === undefined) {
      // Failing at once rather than queueing: the fetches are caused by anyone's messages.
      if (fetching.size >= maxDidWebFetches) throw new DidWebUnavailableError('too many did:web documents are being fetched')
      pending = fetch(url).catch((err: unknown) => {
        if (err instanceof DidWebAnswerError) throw err
        failedHosts.set(host, Date.now() + DID_WEB_FAILURE_MS)
        throw new DidWebUnavailableError(`cannot fetch the did:web document: ${(err as Error).message}`, { cause: err })
      }).finally(() => { fetching.delete(url) })
      fetching.set(url, pending)
    }
    return await pending
  }

  async function resolveDidWeb (did: string): Promise<DIDDoc> {
    const url = didWebUrl(did)
    const input = init.own?.(did) ?? (init.fetchDidWeb === undefined ? undefined : await fetchDidWeb(url, init.fetchDidWeb))
    if (input === undefined) throw new DIDResolutionError('did:web is not resolved by this party')
    if (!isObject(input) || input.id !== did) throw malformed("the did:web document's id is not the DID")
    return fromInputDoc(input, did)
  }

  async function resolveUncached (did: string): Promise<DIDDoc | null> {
    if (did.startsWith('did:web:')) return await resolveDidWeb(did)
    if (did.startsWith('did:peer:2')) return resolvePeer2(did)
    if (did.startsWith('did:key:')) return resolveDidKey(did)
    if (did.startsWith('did:peer:4')) {
      const match = PEER4.exec(did)
      const [, hash, encoded] = match ?? []
      if (hash === undefined) throw malformed(`malformed did:peer:4: ${did.slice(0, 60)}`)
      const short = `did:peer:4${hash}`
      if (encoded !== undefined) {
        const doc = fromInputDoc(decodePeer4(hash, encoded), did, short)
        longForms.set(short, did)
        return doc
      }
      const long = longForms.get(short)
      return long === undefined ? null : fromInputDoc(decodePeer4(hash, long.slice(short.length + 1)), short, long)
    }
    throw new DIDResolutionError(`unsupported DID method: ${did.slice(0, 60)}`)
  }

  async function resolveOrThrow (did: string): Promise<DIDDoc> {
    if (typeof did !== 'string' || did.length > DID_LIMITS.maxLength) throw malformed(`not a DID of at most ${DID_LIMITS.maxLength} characters`)
    if (!/^did:[a-z0-9]+:\S+$/.test(did)) throw malformed(`not a DID: ${did.slice(0, 60)}`)
    const cached = cache.get(did)
    if (cached !== undefined && cached.until > Date.now()) {
      if (cached.doc instanceof DIDResolutionError) throw cached.doc
      return cached.doc
    }
    let doc: DIDDoc | null
    try {
      doc = await resolveUncached(did)
    } catch (err) {
      const failure = err instanceof DIDResolutionError
        ? err
        : err instanceof DidWebError
          ? new DIDResolutionError(err.message, { cause: err })
          // Decoding failures (bad keys, base58, JSON) all mean the DID is malformed; a did:web's fetch may also fail.
          : new DIDResolutionError(`cannot resolve ${did.slice(0, 60)}: ${(err as Error).message}`, { cause: err })
      if (did.startsWith('did:web:') && !(failure instanceof DidWebUnavailableError)) cache.set(did, { doc: failure, until: Date.now() + DID_WEB_FAILURE_MS })
      throw failure
    }
    if (doc === null) throw new DIDResolutionError(`DID not found: ${did.slice(0, 60)}`)
    cache.set(did, { doc, until: did.startsWith('did:web:') ? Date.now() + didWebTtlMs : Infinity })
    return doc
  }

  return {
    // didcomm-rust reads a rejection as an internal error and null as "not found", so garbage yields null.
    resolve: async did => {
      try {
        return await resolveOrThrow(did)
      } catch {
        return null
      }
    },
    resolveOrThrow
  }
}

// A browser wallet decodes S segments with s.replace('-', '+').replace('_', '/') before atob: only the
// first '-' and '_' are fixed, and atob yields Latin-1, so the JSON has to be ASCII too.
function browserSafe (json: string): string | undefined {
  const b64 = toString(fromString(json), 'base64url')
  const count = (c: string): number => b64.split(c).length - 1
  return /^[\x20-\x7e]*$/.test(json) && count('-') <= 1 && count('_') <= 1 ? b64 : undefined
}

function encodeService (service: PeerDid2Service): string {
  const routingKeys = service.routingKeys ?? []
  const plain = JSON.stringify({
    t: 'dm',
    s: { uri: service.uri, a: service.accept ?? ['didcomm/v2'], ...(routingKeys.length > 0 ? { r: routingKeys } : {}) }
  })
  // In ASCII, base64 only yields '-' or '_' for '>', '?', '~' and DEL at offsets 2 mod 3; escaping those
  // (and non-ASCII) as \uXXXX inside the strings gives an equivalent JSON whose encoding has neither.
  const escaped = plain.replace(/[^\x20-\x3d\x40-\x7d]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const encoded = browserSafe(plain) ?? browserSafe(escaped)
  if (encoded === undefined) throw new Error(`cannot encode a browser-safe did:peer:2 service for ${service.uri}`)
  return encoded
}

/** did:peer:2 with E (X25519) keys, then V (Ed25519) keys, then one S element per service. */
export function createPeerDid2 (init: { keyAgreement: Uint8Array[], authentication: Uint8Array[], services?: PeerDid2Service[] }): string {
  return [
    'did:peer:2',
    ...init.keyAgreement.map(key => `E${encodeMultikey('X25519', key)}`),
    ...init.authentication.map(key => `V${encodeMultikey('Ed25519', key)}`),
    ...(init.services ?? []).map(service => `S${encodeService(service)}`)
  ].join('.')
}
