/**
 * Nodes taking forwards over HTTP: ingest_per_s (closed loop, concurrent senders), latency at half
 * that rate (open loop), the same throughput with 16 KiB bodies, and the node's RSS idle and loaded.
 * The measurements take the node(s) they drive, so the store scenarios reuse them on replicas.
 */
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { NodeEndpoints } from '../lib/child-node.ts'
import { cpuDuring } from '../lib/cpu.ts'
import type { CpuProbe } from '../lib/cpu.ts'
import type { Figures } from '../lib/figures.ts'
import type { ForwardSpec } from '../lib/forwards.ts'
import { openLoop, postAccepted, sendAll, urlFor } from '../lib/load.ts'
import { packForwards } from '../lib/pack.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, percentile, sleep, timed } from '../lib/stats.ts'

/**
 * One mediator as the load sees it: one node, or replicas publishing one DID with no balancer in
 * front (the load takes their URLs in turn; the wallet asks the first for mediation).
 */
export type Mediator = readonly [NodeEndpoints, ...NodeEndpoints[]]

export interface Ingest {
  perSecond: number
  /** CPU ms each probe spent during the timed forwards. */
  cpuMs: Record<string, number>
}

/** Forwards for a fresh wallet at `mediator`, all packed before anything is timed. */
async function forwardsFor (mediator: Mediator, bodyBytes: number, count: number): Promise<string[]> {
  const { pairwise } = await ThirdPartyAgent.mediatedWallet(mediator[0])
  const spec: ForwardSpec = { to: pairwise, bodyBytes }
  return await packForwards(new ThirdPartyAgent(), spec, count)
}

function urlsOf (mediator: Mediator): string[] {
  return mediator.map(node => node.url)
}

/** Forwards accepted per second, `settings.senders` at a time, after an untimed warm-up; `probes` are read around the timed part. */
export async function measureIngest (mediator: Mediator, bodyBytes: number, count: number, settings: Settings, probes: readonly CpuProbe[] = []): Promise<Ingest> {
  const urls = urlsOf(mediator)
  const forwards = await forwardsFor(mediator, bodyBytes, settings.warmup + count)
  await sendAll(urls, forwards.slice(0, settings.warmup), settings.senders)
  let ms = 0
  const cpuMs = await cpuDuring(probes, async () => { ms = await timed(async () => { await sendAll(urls, forwards.slice(settings.warmup), settings.senders) }) })
  return { perSecond: perSecond(count, ms), cpuMs }
}

/**
 * Response times (p50, p99) with forwards offered at `rate` a second on a fixed schedule, and the p99
 * counted from when each request actually went out (`p99FromSend`): the gap is the load generator
 * falling behind its own schedule.
 */
export async function measureLatency (mediator: Mediator, rate: number, settings: Settings): Promise<{ p50: number, p99: number, p99FromSend: number }> {
  const urls = urlsOf(mediator)
  const forwards = await forwardsFor(mediator, KIB, Math.ceil(rate * settings.openLoopSeconds))
  const fromSend: number[] = []
  const latencies = await openLoop(rate, forwards.length, async i => { fromSend.push(await timed(async () => { await postAccepted(urlFor(urls, i), forwards[i] as string) })) })
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), p99FromSend: percentile(fromSend, 0.99) }
}

export async function ingestScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => {
    await sleep(settings.idleSettleMs)
    const rssIdle = node.rssMb()
    const ingest = await measureIngest([node], KIB, settings.ingestMessages, settings)
    const rssLoaded = node.rssMb()
    const latency = await measureLatency([node], ingest.perSecond / 2, settings)
    return { ingest_per_s: ingest.perSecond, rss_idle_mb: rssIdle, rss_loaded_mb: rssLoaded, ingest_p50_ms: latency.p50, ingest_p99_ms: latency.p99 }
  })
}

export async function ingest16kScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => ({ ingest_16k_per_s: (await measureIngest([node], 16 * KIB, settings.ingest16kMessages, settings)).perSecond }))
}
