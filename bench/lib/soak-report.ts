/** The soak run's samples as printed lines, and the growth trends fitted through them. */
import { leastSquaresSlope, round } from './stats.ts'
import type { Slope } from './stats.ts'

/** One sample interval of the soak: the node's state at its end, and what the load did during it. */
export interface SoakSample {
  /** Minutes since the load started, at the end of the interval. */
  minute: number
  /** The node's resident set (VmRSS). */
  rssMb: number
  /** V8 heap used, as the node's metrics report it at the end of the interval. */
  heapUsedMb: number
  /** V8 heap the main thread holds, used or not. */
  heapSizeMb: number
  /** V8 heap the unpack threads hold (each is an isolate of its own), used or not. */
  threadsHeapMb: number
  /** Memory outside the V8 heap that JavaScript objects hold (Buffers, ArrayBuffers), as the node's metrics report it. */
  externalMb: number
  /** The node's event-loop delay p99 over the interval (prom-client: its 10 ms timer period included). */
  eventLoopP99Ms: number
  forwardP50Ms: number
  forwardP99Ms: number
  /** Forwards answered 202 during the interval. */
  accepted: number
  /** Forwards accepted per second of the interval. */
  forwardsPerS: number
  /** Messages delivered and acknowledged during the interval, as the node counts them. */
  pickedUp: number
  /** Messages queued on the node at the end of the interval. */
  mailbox: number
  /** CPU of the node process, in % of one core over the interval. */
  nodeCpuPct: number
  /** CPU of the load generator (driving, packing threads, the wallet), in % of one core. */
  loadCpuPct: number
  /** How long the load waited for its next packed chunk (the schedule paused meanwhile). */
  packWaitMs: number
  /** The machine's one-minute load average at the end of the interval (others' work included). */
  loadAverage: number
}

const COLUMNS: Array<[heading: string, value: (sample: SoakSample) => number]> = [
  ['min', s => s.minute],
  ['rss MB', s => s.rssMb],
  ['heap MB', s => s.heapUsedMb],
  ['heap size MB', s => s.heapSizeMb],
  ['threads heap', s => s.threadsHeapMb],
  ['external MB', s => s.externalMb],
  ['loop p99 ms', s => s.eventLoopP99Ms],
  ['fwd p50 ms', s => s.forwardP50Ms],
  ['fwd p99 ms', s => s.forwardP99Ms],
  ['accepted', s => s.accepted],
  ['fwd/s', s => s.forwardsPerS],
  ['picked up', s => s.pickedUp],
  ['mailbox', s => s.mailbox],
  ['node cpu %', s => s.nodeCpuPct],
  ['load cpu %', s => s.loadCpuPct],
  ['pack wait ms', s => s.packWaitMs],
  ['load avg', s => s.loadAverage]
]

const WIDTH = Math.max(...COLUMNS.map(([heading]) => heading.length))

export function sampleHeader (): string {
  return COLUMNS.map(([heading]) => heading.padStart(WIDTH)).join(' ')
}

export function sampleLine (sample: SoakSample): string {
  return COLUMNS.map(([, value]) => value(sample).toLocaleString('en-US', { maximumFractionDigits: 2 }).padStart(WIDTH)).join(' ')
}

/** Growth of RSS and heap in MB per hour, fitted through the samples after the warm-up ones. */
export interface SoakTrend {
  /** Samples left out of the fit (numbered from 1): the node's caches and JIT settle during them. */
  warmupSamples: number
  rssMbPerHour: Slope
  heapMbPerHour: Slope
}

export function soakTrend (samples: readonly SoakSample[], warmupSamples: number): SoakTrend {
  const fitted = samples.slice(warmupSamples)
  const perHour = (value: (sample: SoakSample) => number): Slope => {
    const { slope, standardError } = leastSquaresSlope(fitted.map(sample => [sample.minute / 60, value(sample)]))
    return { slope: round(slope, 2), standardError: round(standardError, 2) }
  }
  return { warmupSamples, rssMbPerHour: perHour(s => s.rssMb), heapMbPerHour: perHour(s => s.heapUsedMb) }
}

function formatSlope ({ slope, standardError }: Slope): string {
  return `${slope >= 0 ? '+' : ''}${slope} ± ${standardError} MB/h`
}

/** The slope line: which samples were fitted, and each slope with its standard error. */
export function trendLine (trend: SoakTrend, sampleCount: number): string {
  const skipped = trend.warmupSamples === 1 ? 'sample 1' : `samples 1–${trend.warmupSamples}`
  return `slope over samples ${trend.warmupSamples + 1}–${sampleCount} (${skipped} skipped as warm-up; ± one standard error): ` +
    `RSS ${formatSlope(trend.rssMbPerHour)}, heap used ${formatSlope(trend.heapMbPerHour)}`
}
