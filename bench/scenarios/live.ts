/**
 * live_*: thousands of wallets live at once on one node (a child process). Each enrols over HTTP
 * (mediation, and a DID routed through the node: forwards name a keylist DID, never the client's own),
 * then opens its WebSocket and turns live delivery on. live_sockets_mb_per_1k: what the live sockets
 * add to the node's RSS, enrolment excluded; live_push_*: with every wallet live, from the POST of a
 * forward for a sampled wallet to its delivery frame arriving on that wallet's socket.
 */
import { EnvelopeAgent } from '../lib/envelope-agent.ts'
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { ChildNode } from '../lib/child-node.ts'
import type { Figures } from '../lib/figures.ts'
import { loopbackSources, requireOpenFiles } from '../lib/host-limits.ts'
import { openLoop, pool, postAccepted } from '../lib/load.ts'
import { packForwards } from '../lib/pack.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { percentile, round, sleep } from '../lib/stats.ts'
import { DELIVERY, WalletSocket } from '../lib/wallet-socket.ts'

/** Wallets enrolling at once: enough to keep the node and the bench busy, few enough that neither queues. */
const ENROL_CONCURRENCY = 32
/** Sockets connecting and going live at once. */
const LIVE_CONCURRENCY = 64
/** Wallets live before the baseline RSS is read: the node's first live sockets load and compile the code they run, no socket's own cost. */
const WARMUP = 100
/** Forwards a second to the sampled wallets: far below ingest_per_s, so the latency is a push's, not a queue's. */
const PUSH_RATE = 50

/** Which wallets get a forward: `count` of `wallets`, evenly spread (the first connected and the last alike). */
function sampleOf (wallets: number, count: number): Set<number> {
  return new Set(Array.from({ length: Math.min(count, wallets) }, (_, i) => Math.floor(i * wallets / count)))
}

/** `count` wallets mediated at `node`, with the DID forwards reach them by (kept for the sampled ones only). */
async function enrol (node: ChildNode, count: number, sampled: Set<number>): Promise<{ wallets: EnvelopeAgent[], pairwise: Map<number, string> }> {
  const wallets: EnvelopeAgent[] = []
  const pairwise = new Map<number, string>()
  await pool(count, ENROL_CONCURRENCY, async i => {
    const wallet = new EnvelopeAgent()
    await wallet.mediate(node.url, node.did)
    const did = await wallet.pairwiseDid(node.url, node.did)
    wallets[i] = wallet
    if (sampled.has(i)) pairwise.set(i, did)
  })
  return { wallets, pairwise }
}

/**
 * Opens the WebSockets of wallets [from, to) into `sockets` and turns live delivery on; spread over
 * `sources` (loopback addresses) when there are several.
 */
async function goLive (node: ChildNode, wallets: readonly EnvelopeAgent[], sources: readonly string[], sockets: WalletSocket[], from: number, to: number): Promise<void> {
  await pool(to - from, LIVE_CONCURRENCY, async k => {
    const i = from + k
    const socket = await WalletSocket.open(wallets[i] as EnvelopeAgent, node, sources[i % sources.length])
    sockets[i] = socket
    await socket.goLive()
  })
}

async function closeAll (sockets: readonly WalletSocket[]): Promise<void> {
  await pool(sockets.length, LIVE_CONCURRENCY * 4, async i => { await sockets[i]?.close() })
}

/** Milliseconds from each POST to its delivery frame, one forward per sampled wallet, at PUSH_RATE. */
async function pushLatencies (node: ChildNode, targets: ReadonlyArray<{ socket: WalletSocket, forward: string }>): Promise<number[]> {
  const latencies: number[] = []
  await openLoop(PUSH_RATE, targets.length, async i => {
    const { socket, forward } = targets[i] as { socket: WalletSocket, forward: string }
    const start = performance.now()
    await postAccepted(node.url, forward)
    // The frame may have come before the 202: its arrival time was kept.
    const { message, at } = await socket.receive(DELIVERY)
    const ids = await socket.acknowledge(message)
    if (ids.length !== 1) throw new Error(`a sampled wallet got ${ids.length} messages in its delivery, not its one`)
    latencies.push(at - start)
  })
  return latencies
}

export async function liveScenario (settings: Settings): Promise<Figures> {
  const count = settings.liveWallets
  requireOpenFiles(count, 'the bench')
  const sources = loopbackSources(count)
  const sampled = sampleOf(count, settings.livePushes)
  return await withChildNode([], async node => {
    requireOpenFiles(count, 'the node', node.pid)
    const start = performance.now()
    const { wallets, pairwise } = await enrol(node, count, sampled)
    const enrolledS = (performance.now() - start) / 1000
    await sleep(settings.liveSettleMs)
    const sockets: WalletSocket[] = []
    try {
      const warmup = Math.min(WARMUP, Math.floor(count / 10))
      await goLive(node, wallets, sources, sockets, 0, warmup)
      await sleep(settings.liveSettleMs)
      const rssBefore = node.rssMb()
      await goLive(node, wallets, sources, sockets, warmup, count)
      const setupS = (performance.now() - start - 2 * settings.liveSettleMs) / 1000
      await sleep(settings.liveSettleMs)
      const rssLive = node.rssMb()
      console.error(`live: ${count} wallets enrolled in ${enrolledS.toFixed(1)} s, live in ${(setupS - enrolledS).toFixed(1)} s ` +
        `(${sources.length > 1 ? `from ${sources.length} loopback addresses` : 'from 127.0.0.1'}); node RSS ${rssBefore} MB with ${warmup} live, ` +
        `${rssLive} MB with all; bench heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB`)
      const business = new ThirdPartyAgent()
      const targets = await Promise.all([...pairwise].map(async ([i, to]) => ({ socket: sockets[i] as WalletSocket, forward: (await packForwards(business, { to, bodyBytes: KIB }, 1))[0] as string })))
      const latencies = await pushLatencies(node, targets)
      return {
        live_wallets: count,
        live_setup_s: round(setupS, 1),
        live_sockets_mb_per_1k: round((rssLive - rssBefore) / ((count - warmup) / 1000), 2),
        live_push_p50_ms: percentile(latencies, 0.5),
        live_push_p99_ms: percentile(latencies, 0.99)
      }
    } finally {
      await closeAll(sockets)
    }
  })
}
