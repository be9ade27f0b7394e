/**
 * did:web (https://w3c-ccg.github.io/did-method-web/): where a DID's document is fetched from, and
 * the document a party serves for its own did:web. Fetching is the caller's (resolver.ts takes a
 * `fetchDidWeb`), so the node can apply its destination rules to it: the syntax takes any port, the
 * node's fetcher only those its operator allows.
 */
import type { OkpPrivateJwk } from './keys.ts'

/** A host (a name, or an IPv4 address), its port percent-encoded as the method asks, then path segments. */
const METHOD_ID = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:%3a\d{1,5})?(?::[a-z0-9._~-]{1,100}){0,8}$/i

export class DidWebError extends Error {
  override name = 'DidWebError'
}

/**
 * The host of a did:web answered, but not with a document (a status other than 200, too large, not
 * JSON): a failure of that one DID, not of its host, so other DIDs of the host are still fetched.
 */
export class DidWebAnswerError extends DidWebError {
  override name = 'DidWebAnswerError'
}

/** Whether `value` (what follows `did:web:`) is a method-specific id this code resolves and serves. */
export function isDidWebId (value: string): boolean {
  return value.length <= 300 && METHOD_ID.test(value)
}

/** The path of the document under its host: `/.well-known/did.json`, or `/<segments>/did.json`. */
export function didWebPath (did: string): string {
  const [, ...path] = methodId(did).split(':')
  return path.length === 0 ? '/.well-known/did.json' : `/${path.join('/')}/did.json`
}

/** The HTTPS URL of a did:web's document. */
export function didWebUrl (did: string): string {
  const [host = ''] = methodId(did).split(':')
  return `https://${host.replace(/%3a/i, ':')}${didWebPath(did)}`
}

function methodId (did: string): string {
  const id = did.startsWith('did:web:') ? did.slice('did:web:'.length) : ''
  if (!isDidWebId(id)) throw new DidWebError(`not a did:web this node resolves: ${did.slice(0, 60)}`)
  return id
}

/**
 * The document of a did:web with the keys and services of a did:peer:2 made by `peerDid2For`:
 * `#key-1` the X25519 keyAgreement key, `#key-2` the Ed25519 authentication key (the same ids, so
 * the same secrets answer for both DIDs), and one DIDCommMessaging service per endpoint, in order.
 */
export function didWebDocument (did: string, keys: { keyAgreement: OkpPrivateJwk, authentication: OkpPrivateJwk }, serviceUris: readonly string[]): Record<string, unknown> {
  const method = (fragment: string, jwk: OkpPrivateJwk): Record<string, unknown> =>
    ({ id: `${did}#${fragment}`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: jwk.crv, x: jwk.x } })
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
    id: did,
    verificationMethod: [method('key-1', keys.keyAgreement), method('key-2', keys.authentication)],
    keyAgreement: [`${did}#key-1`],
    authentication: [`${did}#key-2`],
    service: serviceUris.map((uri, i) => ({ id: `${did}#didcomm-${i + 1}`, type: 'DIDCommMessaging', serviceEndpoint: { uri, accept: ['didcomm/v2'] } }))
  }
}
