/**
 * The didcomm-mesh CLI (`node/cli.ts`), or another of the benchmark's scripts (the mesh host), as
 * child processes: launched under the Node running the caller, output collected, and killAll() for
 * an exit handler. The benchmark's own (bench/ imports
 * nothing from test/); the tests' CLI helpers build on it.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import packageJson from '../../package.json' with { type: 'json' }

const CLI = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Running { child: ChildProcess, stdout: () => string, stderr: () => string }

/** The Node flags of `npm start` (the heap settings; the image sets the same in NODE_OPTIONS): the CLI runs as deployed. */
export const NODE_FLAGS: readonly string[] = packageJson.scripts.start.split(' ').filter(word => word.startsWith('--'))

/**
 * How the CLI is started: from the TypeScript sources (the default), or from `built`, a directory
 * holding `npm run build`'s output (bench/lib/build.ts); `nodeFlags` go to Node before the script
 * (default NODE_FLAGS).
 */
export interface LaunchOptions { built?: string, nodeFlags?: readonly string[] }

const children = new Set<ChildProcess>()

/** The environment without DIDCOMM_MESH_* variables, so only the flags configure the child. */
function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DIDCOMM_MESH_')))
}

/** Starts the CLI with `args`, collecting its output; `env` adds variables. */
export function launch (args: string[], env: Record<string, string> = {}, how: LaunchOptions = {}): Running {
  return launchScript([...how.nodeFlags ?? NODE_FLAGS, how.built === undefined ? CLI : join(how.built, 'node', 'cli.js'), ...args], env, 'ignore')
}

/** Starts `node <argv>` (a script and its arguments, Node's flags first), collecting its output; `stdin` 'pipe' to talk to it. */
export function launchScript (argv: string[], env: Record<string, string> = {}, stdin: 'ignore' | 'pipe' = 'ignore'): Running {
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: [stdin, 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  return { child, stdout: () => out, stderr: () => err }
}

/** Waits for the child to exit (failing after `timeout` ms) and returns its exit code. */
export async function exitOf (child: ChildProcess, timeout = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(timeout) }) as [number | null]
  return code
}

/** The value printed after `label` on its own line of `start`'s banner (the first, if several). */
export function field (stdout: string, label: string): string | undefined {
  return stdout.split('\n').find(line => line.startsWith(label + ' '))?.slice(label.length).trim()
}

/** Kills every child process still running. Synchronous: safe in an `exit` handler. */
export function killAll (): void {
  for (const child of children) child.kill('SIGKILL')
}
