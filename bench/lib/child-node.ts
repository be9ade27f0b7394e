/**
 * One node as a separate process (`node/cli.ts start`), so the load generator's CPU is not counted
 * inside the node's event loop. Read from its banner; measured from /proc and its data dir.
 */
import { readFileSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { removeScratch, scratchDir } from './cleanup.ts'
import { exitOf, field, launch } from './cli-process.ts'
import type { LaunchOptions, Running } from './cli-process.ts'
import { waitFor } from './wait.ts'

export interface NodeEndpoints {
  url: string
  wsUrl: string
  did: string
}

export interface ChildNodeAddresses extends NodeEndpoints {
  /** Its first libp2p multiaddr (with /p2p/<peer ID>), to bootstrap other nodes from. */
  libp2p: string
}

export interface ChildNode extends ChildNodeAddresses {
  pid: number
  dataDir: string
  /** Resident set size now, in MiB (VmRSS). */
  rssMb(): number
  /** Sum of the sizes of the files in the data dir. */
  diskBytes(): Promise<number>
  /** Undefined while the process runs; else how it ended and what it wrote to stderr (to explain a failed run). */
  exited(): string | undefined
  /** SIGKILL, as a crash or a lost machine would; the data dir stays. */
  kill(): Promise<void>
  /** SIGTERM (SIGKILL if it does not exit), then removes the data dir unless the caller gave it. */
  stop(): Promise<void>
}

export interface ChildNodeOptions extends LaunchOptions {
  /** A data dir the caller prepared (a node key copied in, say) and removes itself. */
  dataDir?: string
}

/** Quotas high enough that no benchmark fills a mailbox, and no rate limit (all load comes from 127.0.0.1). */
const NO_QUOTAS = ['--max-messages-per-recipient', '1000000', '--max-bytes-per-recipient', '100000000000', '--rate-limit', '0']
const BANNER_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

function startArgs (dataDir: string, extra: string[]): string[] {
  return ['start', '--data-dir', dataDir, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn', ...NO_QUOTAS, ...extra]
}

/** Waits for the banner's last line; fails at once if the process exits first. */
async function banner (node: Running): Promise<string> {
  return await waitFor(() => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`node exited before its banner (${node.child.exitCode ?? node.child.signalCode}): ${node.stderr()}`)
    return field(node.stdout(), 'invitation') !== undefined ? node.stdout() : undefined
  }, BANNER_TIMEOUT_MS, `the node's start banner (stderr: ${node.stderr()})`)
}

function bannerField (stdout: string, label: string): string {
  const value = field(stdout, label)
  if (value === undefined) throw new Error(`no "${label}" line in the node's banner:\n${stdout}`)
  return value
}

export function rssMb (pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match === null) throw new Error(`no VmRSS for process ${pid}`)
  return Math.round(Number(match[1]) / 1024)
}

export async function directoryBytes (dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  // A file gone since the listing (LevelDB removes logs and tables as it compacts) holds nothing.
  const sizeOf = async (path: string): Promise<number> => await stat(path).then(info => info.size, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return 0
    throw err
  })
  const sizes = await Promise.all(entries.filter(entry => entry.isFile()).map(async entry => await sizeOf(join(entry.parentPath, entry.name))))
  return sizes.reduce((sum, size) => sum + size, 0)
}

async function terminate (node: Running): Promise<void> {
  node.child.kill('SIGTERM')
  try {
    await exitOf(node.child, STOP_TIMEOUT_MS)
  } catch {
    node.child.kill('SIGKILL')
    await exitOf(node.child, STOP_TIMEOUT_MS)
  }
}

/** Starts `didcomm-mesh start` in a fresh data dir on free ports; `extra` adds flags (a later flag wins). */
export async function startChildNode (extra: string[] = [], options: ChildNodeOptions = {}): Promise<ChildNode> {
  const dataDir = options.dataDir ?? await scratchDir()
  const removeDataDir = async (): Promise<void> => { if (options.dataDir === undefined) await removeScratch(dataDir) }
  const running = launch(startArgs(dataDir, extra), {}, options)
  try {
    const stdout = await banner(running)
    const pid = running.child.pid as number
    return {
      url: bannerField(stdout, 'HTTP'),
      wsUrl: bannerField(stdout, 'WebSocket'),
      did: bannerField(stdout, 'mediator DID'),
      libp2p: bannerField(stdout, 'libp2p'),
      pid,
      dataDir,
      rssMb: () => rssMb(pid),
      diskBytes: async () => await directoryBytes(dataDir),
      exited: () => {
        const { exitCode, signalCode } = running.child
        return exitCode === null && signalCode === null ? undefined : `exited (${exitCode ?? signalCode}): ${running.stderr().slice(-2000)}`
      },
      kill: async () => {
        running.child.kill('SIGKILL')
        await exitOf(running.child, STOP_TIMEOUT_MS)
      },
      stop: async () => {
        await terminate(running)
        await removeDataDir()
      }
    }
  } catch (err) {
    running.child.kill('SIGKILL')
    await removeDataDir()
    throw err
  }
}

/** Runs `use` against a fresh child node, which is stopped and removed however `use` ends. */
export async function withChildNode<T> (extra: string[], use: (node: ChildNode) => Promise<T>, options: ChildNodeOptions = {}): Promise<T> {
  const node = await startChildNode(extra, options)
  try {
    return await use(node)
  } finally {
    await node.stop()
  }
}
