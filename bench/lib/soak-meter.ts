/** What the soak reads at the end of each sample interval: the node (/proc and its /metrics), the load, the machine. */
import { loadavg } from 'node:os'
import type { ChildNode } from './child-node.ts'
import { LOAD_GENERATOR, processCpuMs } from './cpu.ts'
import { metric, scrapeMetrics } from './node-metrics.ts'
import type { Scrape } from './node-metrics.ts'
import type { SoakSample } from './soak-report.ts'
import { percentile, round } from './stats.ts'

const MB = 1024 * 1024
const PREFIX = 'didcomm_mesh_'

interface Reading { at: number, scrape: Scrape, nodeCpuMs: number, loadCpuMs: number, packWaitMs: number }

/** What the meter reads besides the node: how long the load has waited for packed forwards so far, in all. */
export type PackWait = () => number

/** Collects one interval's forward latencies and turns them, the node's state and the CPU clocks into a sample. */
export class SoakMeter {
  private readonly node: ChildNode
  private readonly packWait: PackWait
  private readonly start: number
  private previous: Reading
  private latencies: number[] = []

  private constructor (node: ChildNode, packWait: PackWait, first: Reading) {
    this.node = node
    this.packWait = packWait
    this.start = first.at
    this.previous = first
  }

  /** Starts the first interval now; this first scrape also restarts the node's event-loop histogram. */
  static async start (node: ChildNode, packWait: PackWait): Promise<SoakMeter> {
    return new SoakMeter(node, packWait, await read(node, packWait))
  }

  forwardAnswered (latencyMs: number): void {
    this.latencies.push(latencyMs)
  }

  /** Ends the interval: the sample, and a new interval begins. */
  async sample (): Promise<SoakSample> {
    const exited = this.node.exited()
    if (exited !== undefined) throw new Error(`the node ${exited}`)
    const reading = await read(this.node, this.packWait)
    const { latencies, previous } = this
    this.latencies = []
    this.previous = reading
    const elapsedMs = reading.at - previous.at
    const perCore = (cpuMs: number): number => round(cpuMs / elapsedMs * 100)
    const counter = (name: string): number => metric(reading.scrape, name) - metric(previous.scrape, name)
    return {
      minute: round((reading.at - this.start) / 60_000, 2),
      rssMb: this.node.rssMb(),
      heapUsedMb: round(metric(reading.scrape, `${PREFIX}nodejs_heap_size_used_bytes`) / MB, 1),
      heapSizeMb: round(metric(reading.scrape, `${PREFIX}nodejs_heap_size_total_bytes`) / MB, 1),
      threadsHeapMb: round(metric(reading.scrape, `${PREFIX}unpack_threads_heap_size_bytes`) / MB, 1),
      externalMb: round(metric(reading.scrape, `${PREFIX}nodejs_external_memory_bytes`) / MB, 1),
      eventLoopP99Ms: round(metric(reading.scrape, `${PREFIX}nodejs_eventloop_lag_p99_seconds`) * 1000, 1),
      forwardP50Ms: percentile(latencies, 0.5),
      forwardP99Ms: percentile(latencies, 0.99),
      accepted: latencies.length,
      forwardsPerS: Math.round(latencies.length / (elapsedMs / 1000)),
      pickedUp: counter(`${PREFIX}deliveries_total`),
      mailbox: metric(reading.scrape, `${PREFIX}mailbox_messages`),
      nodeCpuPct: perCore(reading.nodeCpuMs - previous.nodeCpuMs),
      loadCpuPct: perCore(reading.loadCpuMs - previous.loadCpuMs),
      packWaitMs: Math.round(reading.packWaitMs - previous.packWaitMs),
      loadAverage: round(loadavg()[0] ?? NaN, 2)
    }
  }
}

async function read (node: ChildNode, packWait: PackWait): Promise<Reading> {
  const scrape = await scrapeMetrics(node.url)
  return { at: performance.now(), scrape, nodeCpuMs: processCpuMs(node.pid), loadCpuMs: LOAD_GENERATOR.cpuMs(), packWaitMs: packWait() }
}
