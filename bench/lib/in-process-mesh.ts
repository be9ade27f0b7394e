/**
 * A mesh of in-process nodes, each bootstrapped from the first, and a bare libp2p peer to check the
 * DHT from outside: the 10-node mesh scenario's, and the mesh host's (mesh-host.ts) at scale.
 */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { toString } from 'uint8arrays'
import { createMeshLibp2p } from '../../node/libp2p.ts'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { mediatorKey } from '../../node/mesh/routes.ts'
import { removeScratch, scratchDir } from './cleanup.ts'
import { startInProcessNode } from './in-process-node.ts'
import type { InProcessNode } from './in-process-node.ts'
import { sleep } from './stats.ts'
import { waitFor } from './wait.ts'

export interface Mesh {
  nodes: InProcessNode[]
  /** Starts nodes until the mesh has `size`; resolves once every new one has a peer. */
  grow(size: number): Promise<void>
  stop(): Promise<void>
}

/** Between two nodes' starts: libp2p takes at most 5 inbound connections a second from one host (all nodes here are on 127.0.0.1). */
const JOIN_STAGGER_MS = 300
/** A node's first peer: seconds on a busy machine, where 50 nodes already run their DHT in this process. */
const JOIN_TIMEOUT_MS = 60_000

/**
 * `size` nodes, each bootstrapped from the first, started a little apart; resolves once every one has
 * a peer. `flags` configure every node (config keys, as startInProcessNode takes them); a function
 * gives each node its own, by its place in the mesh.
 */
export async function startMesh (size: number, flags: Record<string, unknown> | ((index: number) => Record<string, unknown>) = {}): Promise<Mesh> {
  const flagsOf = typeof flags === 'function' ? flags : () => flags
  // In the order they were started (not the order they came up), so a node's place names its flags.
  const nodes: InProcessNode[] = []
  const dirs: string[] = []
  let started = 0
  let stopped = false
  const stop = async (): Promise<void> => {
    stopped = true
    await Promise.all(nodes.map(async node => { await node?.stop() }))
    await Promise.all(dirs.map(removeScratch))
  }
  const start = async (bootstrap: string[]): Promise<InProcessNode> => {
    const dir = await scratchDir()
    dirs.push(dir)
    const index = started++
    const node = await startInProcessNode({ ...flagsOf(index), dataDir: dir, bootstrap })
    nodes[index] = node
    // Stopped meanwhile (a failed join): this one must not outlive the mesh.
    if (stopped) await node.stop()
    return node
  }
  const grow = async (target: number): Promise<void> => {
    if (nodes.length === 0) await start([])
    // Settled, not all: a failed join must not leave later nodes starting after the mesh is stopped.
    const joins = await Promise.allSettled(Array.from({ length: target - started }, async (_, i) => {
      await sleep(i * JOIN_STAGGER_MS)
      const node = await start(bootstrapFor(nodes))
      await waitFor(() => node.node.info().peers.length > 0 ? true : undefined, JOIN_TIMEOUT_MS, 'a node to join the mesh')
    }))
    const failed = joins.find(join => join.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }
  try {
    await grow(size)
    return { nodes, grow, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * The first node and one started node drawn at random: a join does not hang on one node taking it
 * (the first one's inbound connections, all from 127.0.0.1, are the ones its limits refuse first).
 */
function bootstrapFor (placed: readonly InProcessNode[]): string[] {
  const nodes = placed.filter(node => node !== undefined)
  const other = nodes[Math.floor(Math.random() * nodes.length)] as InProcessNode
  return [...new Set([nodes[0] as InProcessNode, other].map(node => node.info.multiaddrs[0] as string))]
}

/** A libp2p peer with no node behind it: it relays like a mesh node and looks routes up in the DHT. */
export async function startBarePeer (): Promise<MeshLibp2p> {
  const privateKey = toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64')
  const peer = await createMeshLibp2p({ privateKey, datastore: new MemoryDatastore(), host: '127.0.0.1', port: 0, wsPort: 0 })
  await peer.start()
  return peer
}

/** A mesh node as the bare peer needs it: where to dial, and what it serves. */
export interface MeshMember { did: string, peerId: string, multiaddr: string }

/** Waits until `home`'s provider record is findable from `peer` (through `entry`), so a cold lookup is timed on a settled mesh. */
export async function waitForRoute (peer: MeshLibp2p, entry: MeshMember, home: MeshMember, timeoutMs = 60_000): Promise<void> {
  await peer.dial(multiaddr(entry.multiaddr))
  const key = await mediatorKey(home.did)
  await waitFor(async () => {
    try {
      for await (const provider of peer.contentRouting.findProviders(key, { signal: AbortSignal.timeout(2000) })) {
        if (provider.id.toString() === home.peerId) return true
      }
    } catch {
      // not found within the timeout: ask again
    }
    return undefined
  }, timeoutMs, "the home node's DHT record")
}

/** `node` as waitForRoute takes it. */
export function memberOf (node: InProcessNode): MeshMember {
  return { did: node.did, peerId: node.info.peerId, multiaddr: node.info.multiaddrs[0] as string }
}
