import { ENCRYPTED_MEDIA_TYPE } from './jose.ts'
import type { DIDResolver } from './resolver.ts'

/** How a DID document names a libp2p peer as a DIDComm endpoint: this prefix, then the peer ID. */
export const LIBP2P_URI = 'libp2p-peerId:'

/** The first DIDComm endpoint of each transport a DID document names. */
export interface DidcommEndpoints {
  http?: string
  ws?: string
  /** The peer ID of a `libp2p-peerId:` endpoint. */
  libp2p?: string
}

export async function didcommEndpoints (resolver: DIDResolver, did: string): Promise<DidcommEndpoints> {
  const uris = ((await resolver.resolve(did))?.service ?? []).map(s => s.serviceEndpoint.uri)
  return {
    http: uris.find(uri => /^https?:\/\//.test(uri)),
    ws: uris.find(uri => /^wss?:\/\//.test(uri)),
    libp2p: uris.find(uri => uri.startsWith(LIBP2P_URI))?.slice(LIBP2P_URI.length)
  }
}

/** POSTs a packed message to a DIDComm HTTP endpoint; rejects when the endpoint cannot be reached in time. */
export async function postPacked (url: string, packed: string, timeoutMs: number): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': ENCRYPTED_MEDIA_TYPE }, body: packed, signal: AbortSignal.timeout(timeoutMs) })
}
