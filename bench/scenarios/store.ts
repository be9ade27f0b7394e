/**
 * `--store postgres`: the ingest and pickup measurements (scenarios/ingest.ts, pickup.ts) on one
 * LevelDB node (the reference, in the same run), one replica on PostgreSQL, and two replicas on one
 * PostgreSQL database, with the CPU each process (node replicas, PostgreSQL's process tree, the load
 * generator) spends per forward during the timed ingest. Each setup gets a fresh node and database.
 */
import { startChildNode } from '../lib/child-node.ts'
import type { ChildNode } from '../lib/child-node.ts'
import { LOAD_GENERATOR, processCpuMs, treeCpuMs } from '../lib/cpu.ts'
import type { CpuProbe } from '../lib/cpu.ts'
import type { Figures } from '../lib/figures.ts'
import { startPostgres } from '../lib/postgres.ts'
import type { EmbeddedServer } from '../lib/postgres.ts'
import { startReplicas } from '../lib/replicas.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { round } from '../lib/stats.ts'
import { measureIngest, measureLatency } from './ingest.ts'
import type { Mediator } from './ingest.ts'
import { measurePickup } from './pickup.ts'

/** One setup under test: the nodes the load drives (and their processes), the CPU clocks read around its ingest. */
interface Setup { mediator: Mediator, processes: ChildNode[], probes: CpuProbe[], stop: () => Promise<void> }

/** `err`, with the stderr of any node process of `setup` that has exited (a crash under load, say). */
function explained (prefix: string, setup: Setup, err: unknown): Error {
  const exits = setup.processes.map(node => node.exited()).filter(exit => exit !== undefined)
  return new Error(`${prefix}: ${err instanceof Error ? err.message : String(err)}${exits.map(exit => `\nnode ${exit}`).join('')}`, { cause: err })
}

function nodeProbe (name: string, node: ChildNode): CpuProbe {
  return { name, cpuMs: () => processCpuMs(node.pid) }
}

/** `prefix`'s ingest, latency at half that rate, pickup, and CPU ms per forward for every probe. */
async function measureSetup (prefix: string, setup: Setup, settings: Settings): Promise<Record<string, number>> {
  try {
    const ingest = await measureIngest(setup.mediator, KIB, settings.ingestMessages, settings, [...setup.probes, LOAD_GENERATOR])
    const latency = await measureLatency(setup.mediator, ingest.perSecond / 2, settings)
    const pickup = await measurePickup(setup.mediator, settings)
    const cpu = Object.entries(ingest.cpuMs).map(([name, ms]) => [`${prefix}_${name}_cpu_ms_per_forward`, round(ms / settings.ingestMessages, 3)])
    return { [`${prefix}_ingest_per_s`]: ingest.perSecond, [`${prefix}_ingest_p50_ms`]: latency.p50, [`${prefix}_ingest_p99_ms`]: latency.p99, [`${prefix}_pickup_per_s`]: pickup, ...Object.fromEntries(cpu) }
  } catch (err) {
    throw explained(prefix, setup, err)
  } finally {
    await setup.stop()
  }
}

async function levelSetup (): Promise<Setup> {
  const node = await startChildNode()
  return { mediator: [node], processes: [node], probes: [nodeProbe('node', node)], stop: async () => { await node.stop() } }
}

/** `count` replicas on a fresh database: probes named `node` (one replica) or `node1`, `node2`, ..., and `db`. */
async function postgresSetup (server: EmbeddedServer, count: number): Promise<Setup> {
  const set = await startReplicas(await server.createDatabase(), count)
  const postmaster = await server.postmasterPid()
  const [first, ...rest] = set.replicas
  if (first === undefined) throw new Error('no replica started')
  const nodes = set.replicas.map((replica, i) => nodeProbe(count === 1 ? 'node' : `node${i + 1}`, replica.node))
  return { mediator: [first, ...rest], processes: set.replicas.map(replica => replica.node), probes: [...nodes, { name: 'db', cpuMs: () => treeCpuMs(postmaster) }], stop: async () => { await set.stop() } }
}

export async function storeScenario (settings: Settings): Promise<Figures> {
  const figures: Record<string, number> = await measureSetup('level', await levelSetup(), settings)
  const server = await startPostgres()
  try {
    Object.assign(figures, await measureSetup('pg', await postgresSetup(server, 1), settings))
    Object.assign(figures, await measureSetup('pg2', await postgresSetup(server, 2), settings))
  } finally {
    await server.stop()
  }
  figures.pg_ingest_ratio = round((figures.pg_ingest_per_s ?? NaN) / (figures.level_ingest_per_s ?? NaN), 3)
  figures.pg2_ingest_ratio = round((figures.pg2_ingest_per_s ?? NaN) / (figures.pg_ingest_per_s ?? NaN), 3)
  return figures as Figures
}
