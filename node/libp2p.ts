import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { bootstrap } from '@libp2p/bootstrap'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Datastore } from 'interface-datastore'
import type { mdns } from '@libp2p/mdns'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { createLibp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import type { Libp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'
import { getNetConfig, isPrivate } from '@libp2p/utils'
import { fromString } from 'uint8arrays'
import { boundProviderRecords } from './provider-quota.ts'

/** The mesh's own Kademlia DHT: a private network of didcomm-mesh nodes, never the public IPFS one. */
export const DHT_PROTOCOL = '/didcomm-mesh/kad/1.0.0'

/**
 * The mesh DHT holds provider records only, no values. kad-dht's one built-in value type, public-key
 * records (not needed with Ed25519 peer IDs, which hold their key), would let a peer store one record
 * per key pair it mints: every PUT_VALUE is refused.
 */
async function noValues (): Promise<void> {
  throw new Error('the mesh DHT stores no values')
}

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
  /**
   * Keep loopback and private-network addresses (tests, LANs). When false, such addresses are
   * neither shared in DHT answers, nor stored in the peer store, nor dialled, whoever announced them.
   */
  privateAddresses?: boolean
  maxConnections?: number
  /** Inbound connections one IP address may hold at once (default 32). */
  maxConnectionsPerHost?: number
  /** New inbound connections a second from one IP address. */
  inboundConnectionsPerSecond?: number
  /** libp2p's own metrics join this registry (their objects are per process: the first node's registry gets them). */
  metricsRegistry?: Registry
  /** Where the filesystem-usage metric looks (the data dir). */
  statfsLocation?: string
}

export type MeshLibp2p = Libp2p<{ identify: Identify, ping: Ping, dht: KadDHT }>

/** The IP address a connection comes from: the key of per-host limits. */
export function hostOf (address: Multiaddr): string {
  try {
    return getNetConfig(address).host
  } catch {
    return 'other' // not an IP transport (none is configured): one shared key
  }
}

/** Whether a bootstrap multiaddr names its peer (…/p2p/<id>); one that does not is dialled by address (see dialBootstrapAddresses). */
function hasPeerId (address: string): boolean {
  return address.includes('/p2p/')
}

const BOOTSTRAP_REDIAL_MS = 10_000

/**
 * Bootstrap addresses without a peer ID (e.g. `/dns4/node1/tcp/4001` in a compose file, where peer
 * IDs are not known in advance): dialled at start and again every 10 s while not connected, the
 * peer ID learned in the handshake. @libp2p/bootstrap takes only addresses with peer IDs.
 */
export function dialBootstrapAddresses (libp2p: MeshLibp2p, addresses: readonly string[]): () => void {
  const bare = addresses.filter(address => !hasPeerId(address)).map(address => multiaddr(address))
  if (bare.length === 0) return () => {}
  const connected = new Set<string>()
  const dialAll = (): void => {
    for (const address of bare) {
      if (connected.has(address.toString())) continue
      libp2p.dial(address, { signal: AbortSignal.timeout(BOOTSTRAP_REDIAL_MS) }).then(
        connection => {
          connected.add(address.toString())
          connection.addEventListener('close', () => { connected.delete(address.toString()) }, { once: true })
        },
        () => { /* not up yet: dialled again on the next round */ }
      )
    }
  }
  dialAll()
  const timer = setInterval(dialAll, BOOTSTRAP_REDIAL_MS)
  timer.unref()
  return () => { clearInterval(timer) }
}

/** The node's libp2p host: TCP and WebSockets, Noise, Yamux, identify, ping, the mesh DHT; peers from bootstrap addresses and optionally mDNS. */
export async function createMeshLibp2p (init: Libp2pInit): Promise<MeshLibp2p> {
  const peerDiscovery: Array<ReturnType<typeof bootstrap> | ReturnType<typeof mdns>> = []
  const withPeerIds = (init.bootstrap ?? []).filter(hasPeerId)
  // Each discovery module loads only when configured.
  if (withPeerIds.length > 0) peerDiscovery.push((await import('@libp2p/bootstrap')).bootstrap({ list: withPeerIds }))
  if (init.mdns === true) peerDiscovery.push((await import('@libp2p/mdns')).mdns())
  const privateKey = privateKeyFromProtobuf(fromString(init.privateKey, 'base64'))
  // Peer IDs cost nothing to make: one machine must not take all of maxConnections and crowd out the mesh.
  const maxPerHost = init.maxConnectionsPerHost ?? 32
  // Only called once started (`start: false` below), so `node` is set by then.
  const denyInboundConnection = (connection: MultiaddrConnection): boolean => {
    const host = hostOf(connection.remoteAddr)
    return node.getConnections().filter(open => open.direction === 'inbound' && hostOf(open.remoteAddr) === host).length >= maxPerHost
  }
  const node: MeshLibp2p = await createLibp2p({
    privateKey,
    datastore: await boundProviderRecords(init.datastore, peerIdFromPrivateKey(privateKey)),
    start: false,
    addresses: {
      listen: [`/ip4/${init.host}/tcp/${init.port}`, `/ip4/${init.host}/tcp/${init.wsPort}/ws`],
      announce: init.announce ?? []
    },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: init.maxConnections ?? 300, ...(init.inboundConnectionsPerSecond === undefined ? {} : { inboundConnectionThreshold: init.inboundConnectionsPerSecond }) },
    // On a public mesh, a peer (or a provider record, or a DHT answer) naming a loopback or private
    // address must not make this node dial into its own network: such addresses are dropped before
    // the peer store keeps them (identify, ADD_PROVIDER, routes) and refused at dial time.
    ...(init.privateAddresses === false ? { peerStore: { addressFilter: (_peer: PeerId, address: Multiaddr) => !isPrivate(address) } } : {}),
    connectionGater: { denyInboundConnection, ...(init.privateAddresses === false ? { denyDialMultiaddr: isPrivate } : {}) },
    // No heartbeat pings. Each one opens a stream (negotiation and a peer store write) on every
    // connection every 10 s, for a round-trip time nothing reads; aborting a connection on a failed
    // one killed in-flight DHT queries and relays, since it shares the one outbound /ipfs/ping stream
    // allowed per peer with the DHT's routing-table pings. Yamux keep-alive closes dead connections.
    connectionMonitor: { enabled: false },
    ...(init.metricsRegistry === undefined ? {} : { metrics: prometheusMetrics({ registry: init.metricsRegistry, collectDefaultMetrics: false, preserveExistingMetrics: true, statfsLocation: init.statfsLocation }) }),
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        validators: { pk: noValues },
        peerInfoMapper: init.privateAddresses === false ? removePrivateAddressesMapper : passthroughMapper
      })
    }
  })
  return node
}
