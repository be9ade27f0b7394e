import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
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
  maxConnections?: number
}

export type MeshLibp2p = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, ping: ReturnType<ReturnType<typeof ping>> }>

/** The node's libp2p host: TCP, Noise, Yamux, identify and ping. */
export async function createMeshLibp2p (init: Libp2pInit): Promise<MeshLibp2p> {
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
    services: { identify: identify(), ping: ping() }
  })
}
