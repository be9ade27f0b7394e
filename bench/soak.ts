/**
 * `npm run soak -- --minutes N [--rate R] [--sample-seconds S] [--out <file>]`: one node (a child
 * process, as the bench runs it) driven for N minutes (default 30) at half its ingest rate (probed
 * first, or R forwards/s) in an open loop of HTTP forwards, while a wallet picks up and acknowledges
 * over WebSocket. Every S seconds (default 60) it prints the node's RSS, heap used and event-loop
 * delay, the forwards' response times, forwards accepted and messages picked up; at the end, the
 * least-squares slopes of RSS and heap in MB/hour (warm-up sample left out), and it writes
 * bench/results/soak.json (or --out). It fails only if the run does (a forward refused, a message
 * not picked up, the node gone), never on a figure.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ThirdPartyAgent } from './lib/agent.ts'
import { startChildNode } from './lib/child-node.ts'
import type { ChildNode } from './lib/child-node.ts'
import { cleanupOnExit } from './lib/cleanup.ts'
import { forwardSupply } from './lib/forward-supply.ts'
import { openLoopRecording, postAccepted } from './lib/load.ts'
import { closePackers } from './lib/pack.ts'
import { KIB, settingsFor } from './lib/settings.ts'
import { SoakMeter } from './lib/soak-meter.ts'
import { sampleHeader, sampleLine, soakTrend, trendLine } from './lib/soak-report.ts'
import type { SoakSample } from './lib/soak-report.ts'
import { round, sleep } from './lib/stats.ts'
import { WalletSocket } from './lib/wallet-socket.ts'
import { measureIngest } from './scenarios/ingest.ts'
import { drain } from './scenarios/pickup.ts'

/** Forwards timed to find the node's ingest rate (after the quick bench's warm-up). */
const PROBE_MESSAGES = 1000
/** Samples left out of the slopes: the node's caches, JIT and heap settle under the new load. */
const WARMUP_SAMPLES = 1
/** Seconds of forwards packed at once (~8 KB each: memory stays bounded). */
const CHUNK_SECONDS = 10
/** The wallet's pause after emptying its mailbox, before asking again. */
const PICKUP_PAUSE_MS = 100

/** A bad option: its message is all the user needs. */
class UsageError extends Error {}

interface SoakArgs { minutes: number, rate?: number, sampleSeconds: number, samples: number, out: string }

function positive (option: string, text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${option} must be a positive number, not "${text}"`)
  return value
}

/** The options as given; an unknown or malformed one is a usage error. */
function optionsOf () {
  try {
    return parseArgs({
      options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string' }, 'sample-seconds': { type: 'string', default: '60' }, out: { type: 'string' } }
    }).values
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

function argsOf (): SoakArgs {
  const values = optionsOf()
  const minutes = positive('--minutes', values.minutes)
  const sampleSeconds = positive('--sample-seconds', values['sample-seconds'])
  const samples = Math.round(minutes * 60 / sampleSeconds)
  if (samples < WARMUP_SAMPLES + 2) throw new UsageError(`--minutes ${minutes} with --sample-seconds ${sampleSeconds} makes ${samples} samples; a slope needs ${WARMUP_SAMPLES + 2} (${WARMUP_SAMPLES} warm-up, two fitted)`)
  return {
    minutes,
    sampleSeconds,
    samples,
    ...(values.rate === undefined ? {} : { rate: positive('--rate', values.rate) }),
    out: values.out ?? fileURLToPath(new URL('results/soak.json', import.meta.url))
  }
}

function loadAverage (): string {
  return loadavg().map(load => load.toFixed(2)).join(' ')
}

/** Half the forwards/s the node accepts from concurrent senders, measured as the bench measures ingest_per_s. */
async function halfIngestRate (node: ChildNode): Promise<number> {
  // The quick bench's warm-up and senders; measureIngest reads nothing else of the settings.
  const { perSecond } = await measureIngest([node], KIB, PROBE_MESSAGES, settingsFor(true, ''))
  const rate = Math.max(1, Math.round(perSecond / 2))
  console.error(`ingest probe: ${perSecond} forwards/s (${PROBE_MESSAGES} forwards, concurrent senders); driving at half, ${rate}/s`)
  return rate
}

interface Pickup {
  /** Fails the run if the wallet's pickup has failed. */
  check: () => void
  /** Stops asking, picks up what is left, and returns how many messages the wallet picked up in all. */
  stop: () => Promise<number>
}

/** A wallet draining its mailbox in the background (batches requested and acknowledged), pausing when it is empty. */
function keepPickingUp (socket: WalletSocket): Pickup {
  let stopping = false
  let picked = 0
  let failure: Error | undefined
  const loop = (async () => {
    while (!stopping) {
      picked += await drain(socket)
      if (!stopping) await sleep(PICKUP_PAUSE_MS)
    }
  })().catch((err: unknown) => { failure = new Error('the wallet\'s pickup failed', { cause: err }) })
  const check = (): void => { if (failure !== undefined) throw failure }
  return {
    check,
    stop: async () => {
      stopping = true
      await loop
      check()
      // Everything accepted is queued by now (202 comes after the durable write): this drain empties the mailbox.
      return picked + await drain(socket)
    }
  }
}

/** A promise that never settles unless `task` fails: to race a wait against a failure. */
async function failureOf (task: Promise<unknown>): Promise<never> {
  await task
  return await new Promise<never>(() => {})
}

/**
 * Drives `node` at `rate` forwards/s for `args.minutes` with the wallet picking up meanwhile, and
 * samples every `args.sampleSeconds`; checks at the end that the wallet got every forward accepted.
 */
async function soakNode (node: ChildNode, rate: number, args: SoakArgs): Promise<{ samples: SoakSample[], accepted: number }> {
  const { wallet, pairwise } = await ThirdPartyAgent.mediatedWallet(node)
  const count = Math.round(rate * args.minutes * 60)
  // Fresh forwards throughout (the node drops a repeated one by its hash); the first chunk packs before the clock starts.
  const supply = forwardSupply(new ThirdPartyAgent(), { to: pairwise, bodyBytes: KIB }, count, Math.max(1, Math.round(rate * CHUNK_SECONDS)))
  await supply.forward(0)
  const socket = await WalletSocket.open(wallet, node)
  try {
    const pickup = keepPickingUp(socket)
    const meter = await SoakMeter.start(node, supply.waitedMs)
    console.log(sampleHeader())
    const start = performance.now()
    const driving = openLoopRecording(rate, count, async i => {
      pickup.check()
      await postAccepted(node.url, await supply.forward(i))
    }, latency => { meter.forwardAnswered(latency) })
    const failed = failureOf(driving)
    const samples: SoakSample[] = []
    const intervalMs = args.sampleSeconds * 1000
    for (let s = 1; s <= args.samples; s++) {
      // On schedule; but a sample that ran late (a starved machine) is followed by at least half an interval, not by an empty one.
      await Promise.race([sleep(Math.max(start + s * intervalMs - performance.now(), intervalMs / 2)), failed])
      const sample = await meter.sample()
      samples.push(sample)
      console.log(sampleLine(sample))
    }
    await driving
    const pickedUp = await pickup.stop()
    if (pickedUp !== count) throw new Error(`the node accepted ${count} forwards for the wallet, which picked up ${pickedUp}`)
    return { samples, accepted: count }
  } finally {
    await socket.close()
  }
}

async function main (): Promise<number> {
  const args = argsOf()
  cleanupOnExit()
  console.error(`soak: ${args.minutes} min, a sample every ${args.sampleSeconds} s, on ${availableParallelism()} cores, Node ${process.version}, load average ${loadAverage()}`)
  const node = await startChildNode()
  try {
    const rate = args.rate ?? await halfIngestRate(node)
    const { samples, accepted } = await soakNode(node, rate, args)
    const trend = soakTrend(samples, WARMUP_SAMPLES)
    console.log(trendLine(trend, samples.length))
    const meanOver = (pick: (sample: SoakSample) => number): number => round(samples.reduce((sum, sample) => sum + pick(sample), 0) / samples.length)
    console.log(`forwards accepted: ${accepted} at ${rate}/s offered, every one picked up; CPU in % of one core, mean over the samples: node ${meanOver(s => s.nodeCpuPct)}, load generator ${meanOver(s => s.loadCpuPct)} (packing included)`)
    const results = {
      date: new Date().toISOString(),
      cores: availableParallelism(),
      node: process.version,
      minutes: args.minutes,
      sampleSeconds: args.sampleSeconds,
      rate,
      rateProbed: args.rate === undefined,
      accepted,
      slopes: trend,
      samples
    }
    await mkdir(dirname(args.out), { recursive: true })
    await writeFile(args.out, JSON.stringify(results, null, 2) + '\n')
    console.error(`done, load average ${loadAverage()}; wrote ${args.out}`)
    return 0
  } finally {
    await node.stop()
    await closePackers()
  }
}

// Exit explicitly: the packing threads and keep-alive sockets must not hold the run open.
process.exit(await main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`soak: ${err.message}`)
    return 2
  }
  console.error(err)
  return 1
}))
