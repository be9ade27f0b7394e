import { generateKeyPairSync } from 'node:crypto'
import { fromString } from 'uint8arrays'
import type { SecretLookup } from './envelope.ts'
import { createPeerDid2 } from './resolver.ts'
import type { PeerDid2Service } from './resolver.ts'

export interface OkpPrivateJwk { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string, d: string }

/** The keys behind a DID of `peerDid2For`. */
export interface DidKeys { keyAgreement: OkpPrivateJwk, authentication: OkpPrivateJwk }

export function generateOkpKey (crv: 'X25519' | 'Ed25519'): OkpPrivateJwk {
  const { privateKey } = crv === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  return { kty: 'OKP', crv, x: String(jwk.x), d: String(jwk.d) }
}

/** What a party needs to pack and unpack as its DIDs: the DIDs and the secrets behind their keys. */
export interface DidIdentity {
  /** The current DID; the one written into new invitations. */
  did: string
  /** Every DID these keys have answered to, current last. */
  dids: readonly string[]
  secret: SecretLookup
}

function publicKey (jwk: OkpPrivateJwk): Uint8Array {
  return fromString(jwk.x, 'base64url')
}

/** A did:peer:2 of one X25519 keyAgreement key (#key-1) and one Ed25519 authentication key (#key-2). */
export function peerDid2For (keyAgreement: OkpPrivateJwk, authentication: OkpPrivateJwk, services: PeerDid2Service[]): string {
  return createPeerDid2({ keyAgreement: [publicKey(keyAgreement)], authentication: [publicKey(authentication)], services })
}

/**
 * Secrets for DIDs built by `peerDid2For`: `<did>#key-1` is the X25519 key, `<did>#key-2` the
 * Ed25519 one, where `keysOf(did)` holds the keys of our DIDs. Only these exact key ids match: a kid
 * such as `<did>/x#key-1` or `<did>?x#key-1` is not ours, so nothing keyed by a kid can be made to
 * grow by varying the text around our DID.
 */
export function didSecrets (keysOf: (did: string) => DidKeys | undefined): SecretLookup {
  return kid => {
    const hash = kid.indexOf('#')
    if (hash === -1) return undefined
    const keys = keysOf(kid.slice(0, hash))
    const fragment = kid.slice(hash + 1)
    const jwk = fragment === 'key-1' ? keys?.keyAgreement : fragment === 'key-2' ? keys?.authentication : undefined
    return jwk === undefined ? undefined : { id: kid, type: 'JsonWebKey2020', privateKeyJwk: jwk }
  }
}

/** The identity of one set of keys under every DID in `dids` (a changed service makes a new DID over the same keys). */
export function createDidIdentity (keys: DidKeys, dids: readonly string[]): DidIdentity {
  const did = dids[dids.length - 1]
  if (did === undefined) throw new Error('an identity needs at least one DID')
  const ours = new Set(dids)
  return { did, dids, secret: didSecrets(candidate => ours.has(candidate) ? keys : undefined) }
}
