/**
 * CPU time of processes from /proc (Linux): utime + stime, in clock ticks of `getconf CLK_TCK`.
 * A process tree (PostgreSQL: the postmaster and its backends and workers) counts its live children
 * and, through the root's cutime + cstime, those that have exited and been waited for.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

let ticksPerSecond: number | undefined

function clockTicks (): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return ticksPerSecond
}

/** /proc/<path>/stat's fields after the command (field 3 onwards: state, ppid, ...), or undefined if the process is gone. */
function statFields (pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

// Indices into statFields: field n of proc(5) is at n - 3.
const PPID = 1
const UTIME = 11
const STIME = 12
const CUTIME = 13
const CSTIME = 14

function sum (fields: string[], indices: number[]): number {
  return indices.reduce((total, i) => total + Number(fields[i]), 0)
}

/** The process's own CPU time so far, in ms. */
export function processCpuMs (pid: number): number {
  const fields = statFields(pid)
  if (fields === undefined) throw new Error(`no process ${pid}`)
  return sum(fields, [UTIME, STIME]) * 1000 / clockTicks()
}

/** The CPU time so far, in ms, of the process's main thread alone (its event loop; worker threads not counted). */
export function mainThreadCpuMs (pid: number): number {
  const fields = statFields(`${pid}/task/${pid}`)
  if (fields === undefined) throw new Error(`no process ${pid}`)
  return sum(fields, [UTIME, STIME]) * 1000 / clockTicks()
}

/** CPU time so far, in ms, of `root`, its exited children and its live children. */
export function treeCpuMs (root: number): number {
  const fields = statFields(root)
  if (fields === undefined) throw new Error(`no process ${root}`)
  let ticks = sum(fields, [UTIME, STIME, CUTIME, CSTIME])
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const child = statFields(Number(entry))
    if (child !== undefined && Number(child[PPID]) === root) ticks += sum(child, [UTIME, STIME])
  }
  return ticks * 1000 / clockTicks()
}

/** A named CPU clock: a node process, PostgreSQL's process tree, the load generator. */
export interface CpuProbe { name: string, cpuMs: () => number }

/** Runs `task` and returns the CPU ms each probe spent meanwhile. */
export async function cpuDuring (probes: readonly CpuProbe[], task: () => Promise<void>): Promise<Record<string, number>> {
  const before = probes.map(probe => probe.cpuMs())
  await task()
  return Object.fromEntries(probes.map((probe, i) => [probe.name, probe.cpuMs() - (before[i] as number)]))
}

/** The load generator's own CPU (this process, its packing threads included). */
export const LOAD_GENERATOR: CpuProbe = { name: 'load', cpuMs: () => { const usage = process.cpuUsage(); return (usage.user + usage.system) / 1000 } }
