/**
 * `npm run bench [-- --quick] [-- --out <file>]`: real nodes on 127.0.0.1 driven with real DIDComm v2
 * messages packed by didcomm-node. Prints a table and writes bench/results/latest.json (or --out).
 * `-- --store postgres` runs the store scenarios instead (scenarios/store.ts: LevelDB for reference,
 * one and two replicas on an embedded PostgreSQL, CPU per forward) and writes
 * bench/results/postgres.json (or --out), so latest.json stays the default run's.
 * `-- --only <text>` runs only the scenarios whose name contains it (`--only live`), prints the
 * figures they wrote and writes them only to an --out given, so latest.json stays one whole run's.
 * Numbers only: nothing here passes or fails on a speed; the run fails only if a figure is missing.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cleanupOnExit } from './lib/cleanup.ts'
import { FIGURES, STORE_FIGURES, missingFigures } from './lib/figures.ts'
import type { FigureName, FigureSet, Figures } from './lib/figures.ts'
import { closePackers } from './lib/pack.ts'
import { settingsFor } from './lib/settings.ts'
import type { Settings } from './lib/settings.ts'
import { round } from './lib/stats.ts'
import { formatTable } from './lib/table.ts'
import { builtIdleScenario } from './scenarios/built.ts'
import { diskScenario } from './scenarios/disk.ts'
import { ingest16kScenario, ingestScenario } from './scenarios/ingest.ts'
import { liveScenario } from './scenarios/live.ts'
import { meshScenario } from './scenarios/mesh.ts'
import { meshScaleScenario } from './scenarios/mesh-scale.ts'
import { pickupScenario } from './scenarios/pickup.ts'
import { storeScenario } from './scenarios/store.ts'
import { unpackScenario } from './scenarios/unpack.ts'

type Scenario = [string, (settings: Settings) => Promise<Figures>]

/** What a run measures: its scenarios, the figures they must write, where they go by default, and figures derived at the end. */
interface Mode { scenarios: Scenario[], figures: FigureSet, out: string, derive: (figures: Figures) => void }

const DEFAULT_MODE: Mode = {
    scenarios: [
      ['unpack ceiling', unpackScenario],
      ['ingest (1 KiB) + latency + RSS', ingestScenario],
      ['idle RSS of the built node (npm run build)', builtIdleScenario],
      ['ingest (16 KiB)', ingest16kScenario],
      ['pickup over WebSocket', pickupScenario],
      ['live WebSocket wallets at scale', liveScenario],
      ['disk per message', diskScenario],
      ['10-node mesh', meshScenario],
      ['mesh at scale', meshScaleScenario]
    ],
    figures: FIGURES,
    out: 'results/latest.json',
    derive: figures => { figures.ingest_ratio = round((figures.ingest_per_s ?? NaN) / (figures.unpack_ceiling_per_s ?? NaN), 3) }
}

/** `--store <name>`'s runs. */
const STORE_MODES: Record<string, Mode> = {
  postgres: {
    scenarios: [['LevelDB, then PostgreSQL with one and two replicas', storeScenario]],
    figures: STORE_FIGURES,
    out: 'results/postgres.json',
    derive: () => {}
  }
}

/** A run of only the scenarios of `mode` whose name contains `only`: nothing derived, and its figures are those they write. */
function onlyScenarios (mode: Mode, only: string): Mode {
  const scenarios = mode.scenarios.filter(([name]) => name.toLowerCase().includes(only.toLowerCase()))
  if (scenarios.length === 0) throw new Error(`--only ${only}: no scenario's name contains it (${mode.scenarios.map(([name]) => name).join('; ')})`)
  return { ...mode, scenarios, derive: () => {} }
}

/** `only`: an --only run; `write`: whether the results go to settings.out (an --only run's only to an --out given). */
function argsOf (): { settings: Settings, mode: Mode, only: boolean, write: boolean } {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, store: { type: 'string' }, only: { type: 'string' } } })
  const mode = values.store === undefined ? DEFAULT_MODE : STORE_MODES[values.store]
  if (mode === undefined) throw new Error(`--store ${values.store}: the only store mode is --store postgres`)
  const settings = settingsFor(values.quick, values.out ?? fileURLToPath(new URL(mode.out, import.meta.url)))
  if (values.only === undefined) return { mode, settings, only: false, write: true }
  return { mode: onlyScenarios(mode, values.only), settings, only: true, write: values.out !== undefined }
}

function loadAverage (): string {
  return loadavg().map(load => load.toFixed(2)).join(' ')
}

async function runScenarios (mode: Mode, settings: Settings): Promise<Figures> {
  const figures: Figures = {}
  for (const [name, scenario] of mode.scenarios) {
    const start = performance.now()
    console.error(`${name}...`)
    try {
      Object.assign(figures, await scenario(settings))
      console.error(`${name}: ${((performance.now() - start) / 1000).toFixed(1)} s`)
    } catch (err) {
      // The others' figures are still written: a failed scenario shows as its missing figures (exit 1).
      console.error(`${name} failed after ${((performance.now() - start) / 1000).toFixed(1)} s:`, err)
    }
  }
  mode.derive(figures)
  return figures
}

async function writeResults (set: FigureSet, settings: Settings, figures: Figures): Promise<void> {
  const ordered = Object.fromEntries(Object.keys(set).map(name => [name, figures[name as FigureName] ?? null]))
  const results = { date: new Date().toISOString(), cores: availableParallelism(), node: process.version, quick: settings.quick, ...ordered }
  await mkdir(dirname(settings.out), { recursive: true })
  await writeFile(settings.out, JSON.stringify(results, null, 2) + '\n')
}

async function main (): Promise<number> {
  const { mode, settings, only, write } = argsOf()
  cleanupOnExit()
  console.error(`${settings.quick ? 'quick' : 'full'} run on ${availableParallelism()} cores, Node ${process.version}, load average ${loadAverage()}`)
  const start = performance.now()
  try {
    const figures = await runScenarios(mode, settings)
    // --only: the figures its scenarios wrote; none of the others is missing.
    const set = only ? Object.fromEntries(Object.entries(mode.figures).filter(([name]) => name in figures)) : mode.figures
    if (write) await writeResults(set, settings, figures)
    console.log(formatTable(figures, set))
    console.error(`done in ${((performance.now() - start) / 1000).toFixed(1)} s, load average ${loadAverage()}${write ? `; wrote ${settings.out}` : ''}`)
    const missing = missingFigures(figures, set)
    if (missing.length > 0) console.error(`missing figures: ${missing.join(', ')}`)
    return missing.length > 0 ? 1 : 0
  } finally {
    await closePackers()
  }
}

// Exit explicitly: libp2p and socket timers of the stopped in-process nodes must not hold the run open.
process.exit(await main().catch((err: unknown) => {
  console.error(err)
  return 1
}))
