/**
 * The didcomm-mesh CLI as child processes of the tests: commands run to completion, long-running
 * `start`s read from their banner, and killAll() for whatever a failed test left running.
 */
import { exitOf, launch } from '../../bench/lib/cli-process.ts'
import type { Running } from '../../bench/lib/cli-process.ts'
import { waitFor } from './node.ts'

// Launching, waiting for exit and killAll are the benchmark's (bench/lib/cli-process.ts): one copy.
export { exitOf, killAll, launch } from '../../bench/lib/cli-process.ts'
export type { Running } from '../../bench/lib/cli-process.ts'

export interface Result { code: number | null, stdout: string, stderr: string }

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
