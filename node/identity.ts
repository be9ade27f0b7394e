import type { Config } from '../config/schema.ts'
import { didWebDocument } from '../didcomm/did-web.ts'
import { createDidIdentity, peerDid2For } from '../didcomm/keys.ts'
import type { DidIdentity } from '../didcomm/keys.ts'
import type { SecretLookup } from '../didcomm/envelope.ts'
import { LIBP2P_URI } from '../didcomm/transport.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import type { NodeState } from '../storage/store.ts'
import { WEBSOCKET_PATH } from './transports/websocket.ts'

export interface Endpoints { http: string, ws: string, libp2p: string }

/** Where the node is reached: the public URL, or the bound host and port. */
export function endpointsFor (config: Pick<Config, 'host' | 'publicUrl'>, httpPort: number, peerId: string): Endpoints {
  const local = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const http = (config.publicUrl ?? `http://${local.includes(':') ? `[${local}]` : local}:${httpPort}`).replace(/\/+$/, '')
  return { http, ws: http.replace(/^http/, 'ws') + WEBSOCKET_PATH, libp2p: LIBP2P_URI + peerId }
}

/**
 * The mediator DID: did:peer:2 over the node's keys, one DIDCommMessaging service per endpoint, in
 * the order real clients need: http(s) first (Identus and didcomm-rust POST to the first), then
 * ws(s) (browser wallets open the first ws), then libp2p.
 */
export function mediatorDid (keys: NodeKeys, endpoints: Endpoints): string {
  return peerDid2For(keys.keyAgreement, keys.authentication, serviceUris(endpoints).map(uri => ({ uri, accept: ['didcomm/v2'] })))
}

function serviceUris (endpoints: Endpoints): string[] {
  return [endpoints.http, endpoints.ws, endpoints.libp2p]
}

/**
 * The node's mediator DIDs and their secrets. The DID names the bound HTTP port, so it is known only
 * once the transports listen: until `name` is called the node has no DID and decrypts nothing.
 */
export interface NodeIdentity {
  /** The current DID; throws before the node is named. */
  did(): string
  /** Every DID the node answers to, current last; empty before the node is named. */
  dids(): readonly string[]
  secret: SecretLookup
  /** Names the node after its endpoints, remembering the DID beside the earlier ones. */
  name(endpoints: Endpoints): Promise<void>
  endpoints(): Endpoints
  /** The document of the node's did:web (`did`), once named; undefined for any other DID. */
  document(did: string): Record<string, unknown> | undefined
}

/**
 * `didWeb` (`--did-web`, a did:web such as `did:web:mediator.example`) is a name that does not change
 * with the node's URL: it becomes the current DID, the one invitations and new clients see, with the
 * same keys and services as the did:peer:2, which the node keeps answering to.
 */
export function createNodeIdentity (keys: NodeKeys, state: NodeState, didWeb?: string): NodeIdentity {
  let named: { identity: DidIdentity, endpoints: Endpoints, document?: Record<string, unknown> } | undefined
  const current = (): { identity: DidIdentity, endpoints: Endpoints } => {
    if (named === undefined) throw new Error('the node has no DID yet: its transports are not listening')
    return named
  }
  return {
    did: () => current().identity.did,
    dids: () => named?.identity.dids ?? [],
    secret: kid => named?.identity.secret(kid),
    endpoints: () => current().endpoints,
    document: did => did === didWeb ? named?.document : undefined,
    async name (endpoints) {
      const peerDids = await state.rememberMediatorDid(mediatorDid(keys, endpoints))
      if (didWeb === undefined) {
        named = { identity: createDidIdentity(keys, peerDids), endpoints }
        return
      }
      named = {
        identity: createDidIdentity(keys, [...peerDids.filter(did => did !== didWeb), didWeb]),
        endpoints,
        document: didWebDocument(didWeb, keys, serviceUris(endpoints))
      }
    }
  }
}
