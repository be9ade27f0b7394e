/**
 * The mesh at scale: up to 100 nodes in one host process (child-mesh.ts), grown through several sizes.
 * At each size, route_cold_ms as the 10-node mesh measures it (a business's first message to a live
 * wallet whose home node its node has never reached) between random pairs of nodes, and the host's
 * RSS; at the largest, the DHT requests the nodes send while idle. In-process nodes, not one process
 * each: a node process idles at ~165 MB, most of it the runtime and code every node in one process
 * shares, so 100 processes would measure the machine rather than the mesh.
 */
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { mainThreadCpuMs } from '../lib/cpu.ts'
import type { RouteSource } from '../../node/mesh/routes.ts'
import { ThirdPartyAgent } from '../lib/agent.ts'
import { startChildMesh } from '../lib/child-mesh.ts'
import type { ChildMesh } from '../lib/child-mesh.ts'
import type { Figures } from '../lib/figures.ts'
import { startBarePeer, waitForRoute } from '../lib/in-process-mesh.ts'
import { postAccepted } from '../lib/load.ts'
import type { MeshHostMemory, MeshHostNode } from '../lib/mesh-host.ts'
import { packForward } from '../lib/forwards.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { percentile, round, sleep } from '../lib/stats.ts'
import { DELIVERY, WalletSocket } from '../lib/wallet-socket.ts'

/** What one size of the mesh measured. */
interface SizePoint { nodes: number, settleS: number, cold: number[], sources: Partial<Record<RouteSource | 'none', number>>, unsettled: number, memory: MeshHostMemory, peersPerNode: number }

interface NodeState { peers: string[], lookups: Record<RouteSource, number> }

/** A node's connected peers and its route lookups so far, by where the answer came from (its GET /info). */
async function stateOf (node: MeshHostNode): Promise<NodeState> {
  const info = await (await fetch(`${node.url}/info`)).json() as { peers: string[], mesh: { routes: { lookups: Record<RouteSource, number> } } }
  return { peers: info.peers, lookups: info.mesh.routes.lookups }
}

/** Where the one lookup between `before` and `after` got its answer. */
function sourceOf (before: NodeState, after: NodeState): RouteSource | 'none' {
  return (Object.keys(after.lookups) as RouteSource[]).find(source => after.lookups[source] > before.lookups[source]) ?? 'none'
}

function shuffled<T> (list: readonly T[]): T[] {
  const copy = [...list]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
  }
  return copy
}

/**
 * A sender and a home node never paired before, the home not connected to the sender if any such pair
 * is left: a sender already connected to the home needs no DHT (its route is 'connected'), and in a
 * large mesh most pairs are not connected (at most --max-connections each).
 */
async function freshPair (nodes: readonly MeshHostNode[], used: Set<string>): Promise<[MeshHostNode, MeshHostNode]> {
  let fallback: [MeshHostNode, MeshHostNode] | undefined
  for (const sender of shuffled(nodes)) {
    const { peers } = await stateOf(sender)
    const homes = shuffled(nodes.filter(home => home !== sender && !used.has(`${sender.did} ${home.did}`)))
    const home = homes.find(home => !peers.includes(home.peerId)) ?? homes[0]
    if (home === undefined) continue
    fallback ??= [sender, home]
    if (!peers.includes(home.peerId)) return pair(sender, home, used)
  }
  if (fallback === undefined) throw new Error(`every pair of the ${nodes.length} nodes was used`)
  return pair(...fallback, used)
}

function pair (sender: MeshHostNode, home: MeshHostNode, used: Set<string>): [MeshHostNode, MeshHostNode] {
  used.add(`${sender.did} ${home.did}`)
  return [sender, home]
}

/** Businesses mediated at each sender node, one a node, made as first needed. */
class Businesses {
  private readonly byNode = new Map<string, ThirdPartyAgent>()

  async at (node: MeshHostNode): Promise<ThirdPartyAgent> {
    let business = this.byNode.get(node.url)
    if (business === undefined) {
      business = new ThirdPartyAgent()
      await business.mediate(node.url, node.did)
      this.byNode.set(node.url, business)
    }
    return business
  }
}

/**
 * How long a home's DHT record is waited for. On a busy machine a node's provide can time out
 * (it is tried again, backing off): the message then goes anyway, its route found otherwise
 * (dht-peer, did-doc), and the sources printed tell.
 */
const ROUTE_WAIT_MS = 30_000

/**
 * One first message from a business at `sender` to a new live wallet at `home`, once `home`'s DHT
 * record is findable: milliseconds from the POST until the wallet has the push, and where the
 * sender's route lookup got its answer (a sender already connected to the home asks no DHT).
 */
async function coldMessage (sender: MeshHostNode, home: MeshHostNode, business: ThirdPartyAgent, check: { peer: MeshLibp2p, entry: MeshHostNode }): Promise<{ ms: number, source: RouteSource | 'none', settled: boolean }> {
  const { wallet, pairwise } = await ThirdPartyAgent.mediatedWallet(home)
  const forward = await packForward(business, { to: pairwise, bodyBytes: KIB, via: { next: home.did, mediator: sender.did } })
  const socket = await WalletSocket.open(wallet, home)
  try {
    await socket.goLive()
    const settled = await waitForRoute(check.peer, check.entry, home, ROUTE_WAIT_MS).then(() => true, () => false)
    const before = await stateOf(sender)
    const start = performance.now()
    await postAccepted(sender.url, forward)
    const pushed = await socket.next(DELIVERY)
    const ms = performance.now() - start
    await socket.acknowledge(pushed)
    return { ms, source: sourceOf(before, await stateOf(sender)), settled }
  } finally {
    await socket.close()
  }
}

/** A 5-second window of the host's event loop counts as quiet below this share of a core. */
const QUIET_SHARE = 0.3
const SETTLE_WINDOW_MS = 5_000

/**
 * Waits, at most `maxMs`, until the host's event loop is quiet: nodes that just joined connect to
 * every peer their DHT queries meet (a mesh of 100 reaches ~5,000 connections, each a Noise
 * handshake, identify, a mix directory exchange), and in one process that keeps the loop saturated
 * for minutes. A first message sent meanwhile would measure the joins, not the mesh. Seconds waited.
 */
async function settle (mesh: ChildMesh, maxMs: number): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < maxMs) {
    const before = mainThreadCpuMs(mesh.pid)
    await sleep(SETTLE_WINDOW_MS)
    if (mainThreadCpuMs(mesh.pid) - before < QUIET_SHARE * SETTLE_WINDOW_MS) break
  }
  return round((performance.now() - start) / 1000, 0)
}

async function measureSize (mesh: ChildMesh, size: number, samples: number, businesses: Businesses, used: Set<string>, settleMs: number): Promise<SizePoint> {
  const nodes = await mesh.grow(size)
  const settleS = await settle(mesh, settleMs)
  const peer = await startBarePeer()
  try {
    const cold: number[] = []
    const sources: Partial<Record<RouteSource | 'none', number>> = {}
    let unsettled = 0
    for (let i = 0; i < samples; i++) {
      const [sender, home] = await freshPair(nodes, used)
      const { ms, source, settled } = await coldMessage(sender, home, await businesses.at(sender), { peer, entry: nodes[0] as MeshHostNode })
      cold.push(ms)
      sources[source] = (sources[source] ?? 0) + 1
      if (!settled) unsettled++
    }
    const peers = (await Promise.all(nodes.map(stateOf))).map(state => state.peers.length)
    return { nodes: size, settleS, cold, sources, unsettled, memory: await mesh.memory(), peersPerNode: round(total(peers) / size, 1) }
  } finally {
    // Stopped before the idle count: it is no node of the mesh.
    await peer.stop()
  }
}

function total (counts: Record<string, number> | number[]): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0)
}

/** DHT requests each node sends a minute while nothing is relayed, over `windowMs`; the count by type goes to stderr. */
async function idleDhtRate (mesh: ChildMesh, nodes: number, windowMs: number): Promise<number> {
  const before = await mesh.dhtRequests()
  await sleep(windowMs)
  const after = await mesh.dhtRequests()
  const sent = Object.fromEntries(Object.entries(after).map(([type, count]) => [type, count - (before[type] ?? 0)]))
  console.error(`  idle ${windowMs / 1000} s, ${nodes} nodes: DHT requests sent ${JSON.stringify(sent)}`)
  return total(sent) / nodes / (windowMs / 60_000)
}

function report (point: SizePoint): void {
  console.error(`  ${point.nodes} nodes (quiet after ${point.settleS} s): route_cold p50 ${percentile(point.cold, 0.5)} ms, p99 ${percentile(point.cold, 0.99)} ms over ${point.cold.length} pairs (route from: ${JSON.stringify(point.sources)}; home's DHT record not yet findable: ${point.unsettled}); ${point.peersPerNode} peers connected a node; host RSS ${point.memory.rssMb} MiB (V8 heap ${point.memory.heapMb})`)
}

export async function meshScaleScenario (settings: Settings): Promise<Figures> {
  const mesh = await startChildMesh()
  try {
    const businesses = new Businesses()
    const used = new Set<string>()
    const points: SizePoint[] = []
    for (const size of settings.meshScaleSizes) {
      const point = await measureSize(mesh, size, settings.meshScaleSamples, businesses, used, settings.meshScaleSettleMs)
      report(point)
      points.push(point)
    }
    const smallest = points[0] as SizePoint
    const largest = points[points.length - 1] as SizePoint
    return {
      mesh100_route_cold_p50_ms: percentile(largest.cold, 0.5),
      mesh100_route_cold_p99_ms: percentile(largest.cold, 0.99),
      mesh100_dht_msgs_per_node_min: round(await idleDhtRate(mesh, largest.nodes, settings.dhtIdleMs), 1),
      // What one more node costs: the runtime and code every node of the host shares are not in it.
      mesh100_mb_per_node: round((largest.memory.rssMb - smallest.memory.rssMb) / (largest.nodes - smallest.nodes), 2)
    }
  } finally {
    await mesh.stop()
  }
}
