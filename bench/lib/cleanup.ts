/**
 * Whatever the benchmark leaves on the machine: temp dirs and child node processes. Scenarios clean
 * up after themselves in `finally`; this is the backstop when the run dies or is interrupted.
 */
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killAll } from './cli-process.ts'

const dirs = new Set<string>()

/** A fresh temp dir (in `parent`, which must exist), removed by removeScratch (or at exit). */
export async function scratchDir (prefix = 'didcomm-mesh-bench-', parent = tmpdir()): Promise<string> {
  const path = await mkdtemp(join(parent, prefix))
  dirs.add(path)
  return path
}

export async function removeScratch (path: string): Promise<void> {
  await rm(path, { recursive: true, force: true })
  dirs.delete(path)
}

/** Kills every child node still running and removes every temp dir still there. Synchronous: safe in an `exit` handler. */
export function cleanupNow (): void {
  killAll()
  for (const path of dirs) rmSync(path, { recursive: true, force: true })
  dirs.clear()
}

/** Cleans up on any exit, and exits (128 + signal) on SIGINT/SIGTERM after cleaning up. */
export function cleanupOnExit (): void {
  process.on('exit', cleanupNow)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      console.error(`${signal}: cleaning up`)
      process.exit(code)
    })
  }
}
