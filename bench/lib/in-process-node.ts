/** A node in the benchmark's own process (the mesh scenario), on 127.0.0.1 with free ports, configured as the CLI would be. */
import { loadConfig } from '../../config/load.ts'
import { createNode } from '../../node/node.ts'
import type { MeshNode, NodeInfo } from '../../node/node.ts'

export interface InProcessNode {
  node: MeshNode
  info: NodeInfo
  /** http://127.0.0.1:<port> */
  url: string
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string
  did: string
  stop(): Promise<void>
}

/** Starts a node with `flags` (config keys, as the CLI's flags), no rate limit (all load comes from 127.0.0.1) and silent logs. */
export async function startInProcessNode (flags: Record<string, unknown>): Promise<InProcessNode> {
  const config = loadConfig({ flags: { httpPort: 0, p2pPort: 0, p2pWsPort: 0, rateLimit: 0, relayPrivateDestinations: true, logLevel: 'silent', ...flags } })
  const node = createNode(config)
  await node.start()
  const info = node.info()
  const url = node.listenUrl()
  return { node, info, url, wsUrl: url.replace(/^http/, 'ws') + '/ws', did: info.did, stop: async () => { await node.stop() } }
}
