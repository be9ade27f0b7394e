import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { fromString } from 'uint8arrays'

export interface Libp2pInit {
  /** protobuf private key, base64 */
  privateKey: string
  host: string
  port: number
  announce?: string[]
  bootstrap?: string[]
  mdns?: boolean
  maxConnections?: number
}

export type MeshLibp2p = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, ping: ReturnType<ReturnType<typeof ping>> }>

/** The node's libp2p host: TCP, Noise, Yamux, identify and ping; peers from bootstrap addresses and, optionally, mDNS. */
export async function createMeshLibp2p (init: Libp2pInit): Promise<MeshLibp2p> {
  const peerDiscovery: Array<ReturnType<typeof bootstrap> | ReturnType<typeof mdns>> = []
  if ((init.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: init.bootstrap ?? [] }))
  if (init.mdns === true) peerDiscovery.push(mdns())
  return await createLibp2p({
    privateKey: privateKeyFromProtobuf(fromString(init.privateKey, 'base64')),
    start: false,
    addresses: {
      listen: [`/ip4/${init.host}/tcp/${init.port}`],
      announce: init.announce ?? []
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: init.maxConnections ?? 300 },
    peerDiscovery,
    services: { identify: identify(), ping: ping() }
  })
}
