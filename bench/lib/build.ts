/**
 * `npm run build`'s compile (tsc -p tsconfig.build.json) into a scratch dir of the repository's .tmp/
 * rather than dist/: a test running the image's command on dist/ at the same time keeps its own, and
 * packages still resolve from the repository's node_modules.
 */
import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { scratchDir } from './cleanup.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url))

/** The built node's directory (as dist/ would hold it); removeScratch it when done. */
export async function buildToScratch (): Promise<string> {
  const parent = join(ROOT, '.tmp')
  await mkdir(parent, { recursive: true })
  const outDir = await scratchDir('bench-build-', parent)
  await promisify(execFile)(process.execPath, [TSC, '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT })
  return outDir
}
