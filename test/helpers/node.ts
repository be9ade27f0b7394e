import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { loadConfig } from '../../config/load.ts'
import type { Config } from '../../config/schema.ts'
import { createNode } from '../../node/node.ts'
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

/** A real node on 127.0.0.1 with free ports and its own LevelDB in a temp dir. */
export async function startTestNode (flags: Record<string, unknown> = {}): Promise<TestNode> {
  const config = loadConfig({ flags: { httpPort: 0, p2pPort: 0, p2pWsPort: 0, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', ...flags } })
  const node = createNode(config)
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
      return await startTestNode({ ...flags, dataDir: config.dataDir, httpPort: port })
    }
  }
}

/** Polls `check` until it returns something other than undefined, or fails after `timeout` ms. */
export async function waitFor<T> (check: () => Promise<T | undefined> | T | undefined, timeout = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

export interface LoggedTestNode extends TestNode {
  /** Everything the node has logged so far (pino JSON lines), across restarts. */
  logs(): string
  restart(): Promise<LoggedTestNode>
}

/** Like startTestNode, but the node's pino logs (level `logLevel`, debug unless given) are kept in memory for the test to read. */
export async function startTestNodeWithLogs (flags: Record<string, unknown> = {}, lines: string[] = []): Promise<LoggedTestNode> {
  const config = loadConfig({ flags: { httpPort: 0, p2pPort: 0, p2pWsPort: 0, logLevel: 'debug', ...flags } })
  const logger = pino({ level: config.logLevel, base: { service: 'didcomm-mesh' } }, { write: (line: string) => { lines.push(line) } })
  const node = createNode(config, { logger })
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
    logs: () => lines.join(''),
    restart: async () => {
      await stop()
      return await startTestNodeWithLogs({ ...flags, dataDir: config.dataDir, httpPort: Number(new URL(url).port) }, lines)
    }
  }
}
