import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { tempDir } from '../helpers/node.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TIMEOUT_MS = 180_000

/** The figures the benchmark promises (docs and README tables rely on these names). Only their presence is tested, never a speed. */
const FIGURES = [
  'unpack_ceiling_per_s', 'ingest_per_s', 'ingest_ratio', 'ingest_p50_ms', 'ingest_p99_ms', 'ingest_16k_per_s',
  'pickup_per_s', 'relay_p50_ms', 'relay_p99_ms', 'route_cold_ms', 'e2e_per_s', 'e2e_p50_ms', 'e2e_p99_ms',
  'e2e_mix0_p50_ms', 'e2e_mix0_p99_ms', 'e2e_mix2_p50_ms', 'e2e_mix2_p99_ms', 'e2e_mix2_nodelay_p50_ms', 'e2e_mix2_nodelay_p99_ms', 'mix2_over_relay_p50',
  'live_wallets', 'live_setup_s', 'live_sockets_mb_per_1k', 'live_push_p50_ms', 'live_push_p99_ms',
  'mesh100_route_cold_p50_ms', 'mesh100_route_cold_p99_ms', 'mesh100_dht_msgs_per_node_min', 'mesh100_mb_per_node',
  'rss_idle_mb', 'rss_idle_built_mb', 'rss_loaded_mb', 'disk_bytes_per_message'
]

/** `--store postgres`'s figures the README relies on. */
const STORE_FIGURES = [
  'level_ingest_per_s', 'level_node_cpu_ms_per_forward',
  'pg_ingest_per_s', 'pg_ingest_ratio', 'pg_ingest_p99_ms', 'pg_pickup_per_s', 'pg_node_cpu_ms_per_forward', 'pg_db_cpu_ms_per_forward',
  'pg2_ingest_per_s', 'pg2_ingest_ratio', 'pg2_ingest_p99_ms', 'pg2_pickup_per_s', 'pg2_node1_cpu_ms_per_forward',
  'pg2_node2_cpu_ms_per_forward', 'pg2_db_cpu_ms_per_forward'
]

describe('npm run bench -- --quick', { timeout: 2 * TIMEOUT_MS }, () => {
  const running = new Set<ChildProcess>()
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined

  after(async () => {
    // SIGTERM lets the benchmark kill its own child nodes and remove its temp dirs.
    for (const bench of running) if (bench.exitCode === null && bench.signalCode === null) bench.kill('SIGTERM')
    await dir?.remove()
  })

  /** Runs the quick bench with `args`, expects exit 0 and every one of `figures` written as a finite number. */
  async function quickRun (args: string[], figures: string[]): Promise<void> {
    dir ??= await tempDir('didcomm-mesh-bench-test-')
    const out = join(dir.path, `${args.join('-') || 'default'}.json`)
    // Written elsewhere than bench/results/, so a test run never replaces a full run's figures.
    const bench = spawn(process.execPath, ['bench/run.ts', '--quick', ...args, '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(bench)
    let output = ''
    bench.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    bench.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const [code] = await once(bench, 'exit') as [number | null]
    running.delete(bench)
    assert.equal(code, 0, output)

    const results = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
    for (const figure of figures) assert.ok(Number.isFinite(results[figure]), `${figure} is ${String(results[figure])}\n${output}`)
    assert.equal(results.quick, true)
    assert.equal(typeof results.cores, 'number')
    assert.equal(typeof results.node, 'string')
    assert.equal(typeof results.date, 'string')
  }

  // Proves every scenario runs against real nodes and every named figure is written as a finite number.
  it('exits 0 and writes every figure', { timeout: TIMEOUT_MS }, async () => {
    await quickRun([], FIGURES)
  })

  // LevelDB, then one and two replicas on an embedded PostgreSQL (~35 s on 2 cores).
  it('with --store postgres, exits 0 and writes every store figure', { timeout: TIMEOUT_MS }, async () => {
    await quickRun(['--store', 'postgres'], STORE_FIGURES)
  })
})
