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
// A minute of load, the node's start and the rate probe: ~70 s on 2 quiet cores.
const TIMEOUT_MS = 180_000

describe('npm run soak -- --minutes 1', { timeout: TIMEOUT_MS }, () => {
  let soak: ChildProcess | undefined
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined

  after(async () => {
    // SIGTERM lets the soak kill its child node and remove its temp dirs.
    if (soak !== undefined && soak.exitCode === null && soak.signalCode === null) soak.kill('SIGTERM')
    await dir?.remove()
  })

  // Only that it completes: the figures themselves depend on the machine and are never asserted.
  it('exits 0, prints a sample a line and the slope line, and writes the JSON', { timeout: TIMEOUT_MS }, async () => {
    dir = await tempDir('didcomm-mesh-soak-test-')
    const out = join(dir.path, 'soak.json')
    soak = spawn(process.execPath, ['bench/soak.ts', '--minutes', '1', '--sample-seconds', '15', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let output = ''
    soak.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; output += chunk })
    soak.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const [code] = await once(soak, 'exit') as [number | null]
    assert.equal(code, 0, output)

    assert.match(stdout, /^slope over samples 2–4 \(sample 1 skipped as warm-up; .*\): RSS [+-][\d.]+ ± [\d.]+ MB\/h, heap used [+-][\d.]+ ± [\d.]+ MB\/h$/m, output)
    const results = JSON.parse(await readFile(out, 'utf8')) as { samples: unknown[], accepted: number, slopes: { warmupSamples: number, rssMbPerHour: { slope: number }, heapMbPerHour: { slope: number } } }
    assert.equal(results.samples.length, 4)
    assert.ok(results.accepted > 0)
    assert.equal(results.slopes.warmupSamples, 1)
    assert.ok(Number.isFinite(results.slopes.rssMbPerHour.slope) && Number.isFinite(results.slopes.heapMbPerHour.slope), JSON.stringify(results.slopes))
  })
})
