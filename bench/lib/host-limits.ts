/**
 * What the machine lets the benchmark hold open: files (every socket is one, in the bench and in the
 * node alike) and ephemeral ports (every client socket takes one of its local address's).
 */
import { readFileSync } from 'node:fs'

/** Files a process opens besides the sockets counted (LevelDB tables, libp2p, workers, pipes), generously. */
const OWN_FILES = 1000
/**
 * Client sockets per local address: half the ephemeral range, as bind() to an address (what choosing
 * the local address takes) allocates from half of it first, and the rest of the machine uses ports too.
 */
const RANGE_SHARE = 0.5
/** 127.0.0.1 to 127.0.0.254. */
const MAX_LOOPBACK_SOURCES = 254

/** A process's soft limit of open files (`self`: this one). Node raises its own to the hard limit as it starts. */
export function openFileLimit (pid: number | 'self' = 'self'): number {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
  if (match === null) throw new Error(`no open-file limit in /proc/${pid}/limits`)
  return match[1] === 'unlimited' ? Infinity : Number(match[1])
}

/** Fails, saying what to change, unless process `pid` (`who`) may hold `sockets` sockets besides its own files. */
export function requireOpenFiles (sockets: number, who: string, pid: number | 'self' = 'self'): void {
  const limit = openFileLimit(pid)
  const needed = sockets + OWN_FILES
  if (limit >= needed) return
  throw new Error(`${who} may open ${limit} files but needs about ${needed} for ${sockets} sockets: ` +
    `Node raises its soft limit to the hard limit, so raise the hard limit (\`ulimit -Hn ${needed}\` as root, ` +
    `\`docker run --ulimit nofile=${needed}\`, or limits.conf) or run fewer`)
}

/**
 * The loopback addresses `connections` client sockets to one server address are spread over, so the
 * ephemeral ports of one address do not run out: [] when 127.0.0.1 alone has room (the kernel then
 * picks the address and port as usual), else 127.0.0.1, 127.0.0.2, ... (all of 127/8 is loopback on Linux).
 */
export function loopbackSources (connections: number): string[] {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  const perAddress = Math.floor(((high as number) - (low as number) + 1) * RANGE_SHARE)
  const count = Math.ceil(connections / perAddress)
  if (count <= 1) return []
  if (count > MAX_LOOPBACK_SOURCES) throw new Error(`${connections} client sockets need ${count} loopback addresses of ${perAddress} ports each; at most ${MAX_LOOPBACK_SOURCES}`)
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`)
}
