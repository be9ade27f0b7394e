/**
 * One child node taking forwards over HTTP: ingest_per_s (closed loop, concurrent senders), latency at
 * half that rate (open loop), the same throughput with 16 KiB bodies, and the node's RSS idle and loaded.
 */
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { ChildNode } from '../lib/child-node.ts'
import type { Figures } from '../lib/figures.ts'
import type { ForwardSpec } from '../lib/forwards.ts'
import { openLoop, postAccepted, sendAll } from '../lib/load.ts'
import { packForwards } from '../lib/pack.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, percentile, sleep, timed } from '../lib/stats.ts'

/** Forwards for a fresh wallet at `node`, all packed before anything is timed. */
async function forwardsFor (node: ChildNode, bodyBytes: number, count: number): Promise<string[]> {
  const { pairwise } = await ThirdPartyAgent.mediatedWallet(node)
  const spec: ForwardSpec = { to: pairwise, bodyBytes }
  return await packForwards(new ThirdPartyAgent(), spec, count)
}

/** Forwards accepted per second, `settings.senders` at a time, after an untimed warm-up. */
async function measureIngest (node: ChildNode, bodyBytes: number, count: number, settings: Settings): Promise<number> {
  const forwards = await forwardsFor(node, bodyBytes, settings.warmup + count)
  await sendAll(node.url, forwards.slice(0, settings.warmup), settings.senders)
  const ms = await timed(async () => { await sendAll(node.url, forwards.slice(settings.warmup), settings.senders) })
  return perSecond(count, ms)
}

/** Response times (p50, p99) with forwards offered at `rate` a second on a fixed schedule. */
async function measureLatency (node: ChildNode, rate: number, settings: Settings): Promise<Figures> {
  const forwards = await forwardsFor(node, KIB, Math.ceil(rate * settings.openLoopSeconds))
  const latencies = await openLoop(rate, forwards.length, async i => { await postAccepted(node.url, forwards[i] as string) })
  return { ingest_p50_ms: percentile(latencies, 0.5), ingest_p99_ms: percentile(latencies, 0.99) }
}

export async function ingestScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => {
    await sleep(settings.idleSettleMs)
    const rssIdle = node.rssMb()
    const ingest = await measureIngest(node, KIB, settings.ingestMessages, settings)
    const rssLoaded = node.rssMb()
    const latency = await measureLatency(node, ingest / 2, settings)
    return { ingest_per_s: ingest, rss_idle_mb: rssIdle, rss_loaded_mb: rssLoaded, ...latency }
  })
}

export async function ingest16kScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => ({ ingest_16k_per_s: await measureIngest(node, 16 * KIB, settings.ingest16kMessages, settings) }))
}
