/**
 * `npm run bench:ingest [-- --quick] [-- --cpu-prof <dir>] [-- --node-flag <flag> ...]`: the ingest
 * scenario alone, with what explains its figures: CPU per forward of the node (all threads, and its
 * main thread alone: what limits its rate) and of the load generator (which shares the cores), and during the open loop the node's event-loop delay and GC
 * time (from its /metrics) beside the load generator's own event-loop delay. `--cpu-prof` writes the
 * node's V8 CPU profile there when it stops; `--node-flag` passes node flags (`--unpack-workers 0`).
 */
import { availableParallelism, loadavg } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { withChildNode } from './lib/child-node.ts'
import type { ChildNode } from './lib/child-node.ts'
import { cleanupOnExit } from './lib/cleanup.ts'
import { LOAD_GENERATOR, mainThreadCpuMs, processCpuMs } from './lib/cpu.ts'
import { closePackers } from './lib/pack.ts'
import { KIB, settingsFor } from './lib/settings.ts'
import { round } from './lib/stats.ts'
import { measureIngest, measureLatency } from './scenarios/ingest.ts'
import { unpackScenario } from './scenarios/unpack.ts'

/** A metric's value (the first sample whose name and labels start so) in Prometheus text. */
function sample (text: string, prefix: string): number {
  const line = text.split('\n').find(line => line.startsWith(prefix))
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** The sum of every sample named `name` (all label sets). */
function total (text: string, name: string): number {
  return text.split('\n').filter(line => line.startsWith(name)).reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

/** GC pauses during the open loop longer than `seconds` (a bucket bound of prom-client's GC histogram), all kinds. */
function gcPausesOver (before: string, after: string, seconds: string): number {
  const over = (text: string): number => total(text, 'didcomm_mesh_nodejs_gc_duration_seconds_count') - text.split('\n')
    .filter(line => line.startsWith('didcomm_mesh_nodejs_gc_duration_seconds_bucket') && line.includes(`le="${seconds}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
  return over(after) - over(before)
}

/** The node's /metrics; reading it also resets prom-client's event-loop delay histogram. */
async function metrics (node: ChildNode): Promise<string> {
  return await (await fetch(new URL('/metrics', node.url))).text()
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'string' }, 'node-flag': { type: 'string', multiple: true, default: [] } } })
  cleanupOnExit()
  const settings = settingsFor(values.quick, '')
  // Children inherit NODE_OPTIONS; this process has already started, so it is not profiled.
  if (values['cpu-prof'] !== undefined) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${values['cpu-prof']}`
  console.error(`${settings.quick ? 'quick' : 'full'} ingest on ${availableParallelism()} cores, load average ${loadavg().map(l => l.toFixed(2)).join(' ')}, node flags: ${values['node-flag'].join(' ')}`)
  const { unpack_ceiling_per_s: ceiling } = await unpackScenario(settings)
  const figures = await withChildNode(values['node-flag'], async node => {
    const nodeCpu = { name: 'node', cpuMs: () => processCpuMs(node.pid) }
    const nodeMainThread = { name: 'main', cpuMs: () => mainThreadCpuMs(node.pid) }
    const ingest = await measureIngest([node], KIB, settings.ingestMessages, settings, [nodeCpu, nodeMainThread, LOAD_GENERATOR])
    const before = await metrics(node)
    const loadDelay = monitorEventLoopDelay({ resolution: 10 })
    loadDelay.enable()
    const latency = await measureLatency([node], ingest.perSecond / 2, settings)
    loadDelay.disable()
    const after = await metrics(node)
    const gc = 'didcomm_mesh_nodejs_gc_duration_seconds_sum'
    const perForward = (ms: number | undefined): number => round((ms ?? NaN) / settings.ingestMessages, 3)
    return {
      ingest_per_s: ingest.perSecond,
      unpack_ceiling_per_s: ceiling,
      ingest_ratio: round(ingest.perSecond / (ceiling ?? NaN), 3),
      node_cpu_ms_per_forward: perForward(ingest.cpuMs.node),
      node_main_thread_cpu_ms_per_forward: perForward(ingest.cpuMs.main),
      load_cpu_ms_per_forward: perForward(ingest.cpuMs.load),
      load_cpu_share: round((ingest.cpuMs.load ?? NaN) / ((ingest.cpuMs.load ?? NaN) + (ingest.cpuMs.node ?? NaN)), 3),
      ingest_p50_ms: latency.p50,
      ingest_p99_ms: latency.p99,
      ingest_p99_from_send_ms: latency.p99FromSend,
      node_loop_delay_p99_ms: round(sample(after, 'didcomm_mesh_nodejs_eventloop_lag_p99_seconds') * 1000, 2),
      node_loop_delay_max_ms: round(sample(after, 'didcomm_mesh_nodejs_eventloop_lag_max_seconds') * 1000, 2),
      node_gc_ms_during_open_loop: round((total(after, gc) - total(before, gc)) * 1000, 1),
      node_gc_pauses_over_10ms: gcPausesOver(before, after, '0.01'),
      load_loop_delay_p99_ms: round(loadDelay.percentile(99) / 1e6, 2),
      load_loop_delay_max_ms: round(loadDelay.max / 1e6, 2)
    }
  })
  console.log(JSON.stringify(figures, null, 2))
}

try {
  await main()
} finally {
  await closePackers()
}
