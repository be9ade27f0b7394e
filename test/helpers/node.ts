import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { loadConfig } from '../../config/load.ts'
import type { Config } from '../../config/schema.ts'
import { createNode } from '../../node/node.ts'
import { waitFor } from '../../bench/lib/wait.ts'
import type { MeshNode, NodeInfo } from '../../node/node.ts'

export interface TestNode {
  node: MeshNode
  config: Config
  info: NodeInfo
  /** http://127.0.0.1:<port> */
  url: string
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string
  did: string
  stop(): Promise<void>
  /** Stops and starts again from the same data dir on the same ports. */
  restart(): Promise<TestNode>
}

export async function tempDir (prefix = 'didcomm-mesh-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/**
 * A real node on 127.0.0.1 with free ports and its own LevelDB in a temp dir. `logger`, when given,
 * makes the node's logger from its config (kept across restarts) instead of the node's own.
 */
export async function startTestNode (flags: Record<string, unknown> = {}, logger?: (config: Config) => Logger): Promise<TestNode> {
  // No rate limit unless a test sets one: every test client shares 127.0.0.1. Relays to HTTP
  // mediators on 127.0.0.1 are allowed unless a test turns them off (they are off by default). Every
  // node of a test mesh is a mix peer on 127.0.0.1, which the mix directory would list two of.
  const config = loadConfig({ flags: { httpPort: 0, p2pPort: 0, p2pWsPort: 0, rateLimit: 0, relayPrivateDestinations: true, mixPeersPerHost: 64, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', ...flags } })
  const node = createNode(config, { logger: logger?.(config) })
  await node.start()
  const info = node.info()
  const url = node.listenUrl()
  const stop = async (): Promise<void> => { await node.stop() }
  return {
    node,
    config,
    info,
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    did: info.did,
    stop,
    restart: async () => {
      await stop()
      const port = Number(new URL(url).port)
      return await startTestNode({ ...flags, dataDir: config.dataDir, httpPort: port }, logger)
    }
  }
}

export interface TestNodes<N extends TestNode = TestNode> {
  /**
   * Starts a node in a fresh temp data dir (or `flags.dataDir`). Its handle's stop() and restart()
   * keep the fleet's books: a stopped node is not stopped again by stopAll, a restarted one is.
   */
  start(flags?: Record<string, unknown>): Promise<N>
  /**
   * Nodes bootstrapped to `bootstrap`, one per entry of `flags`, started `batch` at a time and each
   * waited for until it has a peer: libp2p refuses more than 5 inbound connections a second from
   * one host, and every test node is on 127.0.0.1.
   */
  join(bootstrap: TestNode, flags: Array<Record<string, unknown>>, batch?: number): Promise<N[]>
  /** A fresh temp dir (for a node or an agent), removed by stopAll. */
  dir(): Promise<string>
  /** Stops the nodes still running (not those already stopped by their own stop()), then removes the temp dirs. */
  stopAll(): Promise<void>
}

/**
 * The one fleet helper: nodes and temp dirs for one suite or test, all cleaned up by `stopAll()`
 * (call it in `after`). With `{ logs: true }` every node keeps its logs in memory (startTestNodeWithLogs).
 * Registers no hooks.
 */
export function testNodes (prefix?: string): TestNodes
export function testNodes (prefix: string | undefined, options: { logs: true }): TestNodes<LoggedTestNode>
export function testNodes (prefix?: string, options: { logs?: boolean } = {}): TestNodes<TestNode> | TestNodes<LoggedTestNode> {
  const running = new Set<TestNode>()
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = []
  const dir = async (): Promise<string> => {
    const made = await tempDir(prefix)
    dirs.push(made)
    return made.path
  }
  const track = <N extends TestNode>(node: N): N => {
    const tracked: N = {
      ...node,
      stop: async () => {
        if (!running.delete(tracked)) return
        await node.stop()
      },
      restart: async () => {
        running.delete(tracked)
        return track(await node.restart() as N)
      }
    }
    running.add(tracked)
    return tracked
  }
  const startOne = async (flags: Record<string, unknown>): Promise<TestNode> => {
    const withDir = { ...flags, dataDir: flags.dataDir ?? await dir() }
    return track(options.logs === true ? await startTestNodeWithLogs(withDir) : await startTestNode(withDir))
  }
  return {
    start: async (flags = {}) => await startOne(flags),
    join: async (bootstrap, flags, batch = 3) => {
      const joined: TestNode[] = []
      for (let i = 0; i < flags.length; i += batch) {
        const started = await Promise.all(flags.slice(i, i + batch).map(async f => await startOne({ bootstrap: [bootstrap.info.multiaddrs[0]], ...f })))
        for (const node of started) await waitFor(() => node.node.info().peers.length > 0 ? true : undefined, 10_000, `node ${node.url} to join the mesh`)
        joined.push(...started)
      }
      return joined
    },
    dir,
    stopAll: async () => {
      for (const node of [...running]) await node.stop()
      for (const made of dirs.splice(0)) await made.remove()
    }
  } as TestNodes<TestNode> | TestNodes<LoggedTestNode>
}

// Polling is the benchmark's (bench/lib/wait.ts): one copy.
export { waitFor }

export interface LoggedTestNode extends TestNode {
  /** Everything the node has logged so far (pino JSON lines), across restarts. */
  logs(): string
  restart(): Promise<LoggedTestNode>
}

/** Like startTestNode, but the node's pino logs (level `logLevel`, debug unless given) are kept in memory for the test to read. */
export async function startTestNodeWithLogs (flags: Record<string, unknown> = {}, lines: string[] = []): Promise<LoggedTestNode> {
  const logged = (node: TestNode): LoggedTestNode => ({
    ...node,
    logs: () => lines.join(''),
    restart: async () => logged(await node.restart())
  })
  return logged(await startTestNode({ logLevel: 'debug', ...flags }, config =>
    pino({ level: config.logLevel, base: { service: 'didcomm-mesh' } }, { write: (line: string) => { lines.push(line) } })))
}
