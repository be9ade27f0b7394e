import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Datastore } from 'interface-datastore'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { fromString } from 'uint8arrays'

/** The mesh's own Kademlia DHT: a private network of didcomm-mesh nodes, never the public IPFS one. */
export const DHT_PROTOCOL = '/didcomm-mesh/kad/1.0.0'

export interface Libp2pInit {
  /** protobuf private key, base64 */
  privateKey: string
  datastore: Datastore
  host: string
  port: number
  wsPort: number
  announce?: string[]
  bootstrap?: string[]
  mdns?: boolean
  /** Keep loopback and private-network addresses in DHT answers (tests, LANs). */
  privateAddresses?: boolean
  maxConnections?: number
}

export type MeshLibp2p = Libp2p<{ identify: Identify, ping: Ping, dht: KadDHT }>

/** The node's libp2p host: TCP and WebSockets, Noise, Yamux, identify, ping, the mesh DHT; peers from bootstrap addresses and optionally mDNS. */
export async function createMeshLibp2p (init: Libp2pInit): Promise<MeshLibp2p> {
  const peerDiscovery: Array<ReturnType<typeof bootstrap> | ReturnType<typeof mdns>> = []
  if ((init.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: init.bootstrap ?? [] }))
  if (init.mdns === true) peerDiscovery.push(mdns())
  return await createLibp2p({
    privateKey: privateKeyFromProtobuf(fromString(init.privateKey, 'base64')),
    datastore: init.datastore,
    start: false,
    addresses: {
      listen: [`/ip4/${init.host}/tcp/${init.port}`, `/ip4/${init.host}/tcp/${init.wsPort}/ws`],
      announce: init.announce ?? []
    },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: init.maxConnections ?? 300 },
    // The heartbeat ping shares the one outbound /ipfs/ping stream allowed per peer with the DHT's
    // routing-table pings; when both ping at once the heartbeat fails and would abort the whole
    // connection, killing in-flight DHT queries and relays. Yamux keep-alive still closes dead ones.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: init.privateAddresses === false ? removePrivateAddressesMapper : passthroughMapper
      })
    }
  })
}
