/**
 * The didcomm-mesh CLI as child processes of the tests: commands run to completion, long-running
 * `start`s read from their banner, and killAll() for whatever a failed test left running.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { waitFor } from './node.ts'

const CLI = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Running { child: ChildProcess, stdout: () => string, stderr: () => string }

export interface Result { code: number | null, stdout: string, stderr: string }

const children = new Set<ChildProcess>()

/** The environment without DIDCOMM_MESH_* variables, so only the flags configure the child. */
function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DIDCOMM_MESH_')))
}

/** Starts the CLI (under the Node running the tests: process.execPath), collecting its output; `env` adds variables. */
export function launch (args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
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

/** Runs the CLI to completion. */
export async function run (args: string[], timeout = 30_000, env: Record<string, string> = {}): Promise<Result> {
  const running = launch(args, env)
  const code = await exitOf(running.child, timeout)
  return { code, stdout: running.stdout(), stderr: running.stderr() }
}

/** The value printed after `label` on each line of `start`'s banner that starts with it. */
export function fields (stdout: string, label: string): string[] {
  return stdout.split('\n').filter(line => line.startsWith(label + ' ')).map(line => line.slice(label.length).trim())
}

/** The value printed after `label` on its own line of `start`'s banner (the first, if several). */
export function field (stdout: string, label: string): string | undefined {
  return fields(stdout, label)[0]
}

/** `didcomm-mesh start <args>`, once it has printed its banner (which ends with the invitation), waiting up to 30 s. */
export async function launchStart (args: string[]): Promise<Running> {
  const node = launch(['start', ...args])
  await waitFor(() => field(node.stdout(), 'invitation') !== undefined ? true : undefined, 30_000, `the start banner (stderr: ${node.stderr()})`)
  return node
}

/** Kills every CLI process still running (call it in `after`: a failed test may leave one). */
export function killAll (): void {
  for (const child of children) child.kill('SIGKILL')
}
