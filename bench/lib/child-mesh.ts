/**
 * The mesh host (mesh-host.ts) as a child process: grows its mesh of in-process nodes, reads its RSS
 * and its libp2p metrics. Its nodes' data dirs go under a scratch dir of this process (TMPDIR), so
 * they are removed even if the host is killed.
 */
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { removeScratch, scratchDir } from './cleanup.ts'
import { exitOf, launchScript } from './cli-process.ts'
import type { Running } from './cli-process.ts'
import type { MeshHostCommand, MeshHostMemory, MeshHostNode } from './mesh-host.ts'

const HOST = fileURLToPath(new URL('./mesh-host.ts', import.meta.url))
const STOP_TIMEOUT_MS = 60_000

/** libp2p's count of DHT requests sent, by message type: a per-process counter, so every node of the host together. */
const DHT_REQUESTS = 'libp2p_kad_dht_outbound_rpc_requests_total'

export interface ChildMesh {
  pid: number
  /** Starts nodes until the mesh has `size`; all of them, the first first. */
  grow(size: number): Promise<MeshHostNode[]>
  /** The host's memory after a full garbage collection. */
  memory(): Promise<MeshHostMemory>
  /** DHT requests every node of the host sent so far, by message type (read from the first node's /metrics). */
  dhtRequests(): Promise<Record<string, number>>
  stop(): Promise<void>
}

/** The samples of `metric` in Prometheus text, by their one label's value. */
export function counterByLabel (text: string, metric: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const match of text.matchAll(new RegExp(`^${metric}\\{[^=]+="([^"]*)"\\} (\\S+)$`, 'gm'))) counts[match[1] as string] = Number(match[2])
  return counts
}

export async function startChildMesh (): Promise<ChildMesh> {
  const tmp = await scratchDir('didcomm-mesh-bench-host-')
  const host: Running = launchScript(['--expose-gc', HOST], { TMPDIR: tmp }, 'pipe')
  const lines = createInterface({ input: host.child.stdout! })[Symbol.asyncIterator]()
  let first: string | undefined

  const ask = async <T>(command: MeshHostCommand): Promise<T> => {
    host.child.stdin!.write(JSON.stringify(command) + '\n')
    const line = await lines.next()
    if (line.done === true) throw new Error(`the mesh host exited (${host.child.exitCode ?? host.child.signalCode}): ${host.stderr().slice(-2000)}`)
    const reply = JSON.parse(line.value) as T & { error?: string }
    if (reply.error !== undefined) throw new Error(`the mesh host: ${reply.error}`)
    return reply
  }

  return {
    pid: host.child.pid as number,
    grow: async size => {
      const { nodes } = await ask<{ nodes: MeshHostNode[] }>({ grow: size })
      first = nodes[0]?.url
      return nodes
    },
    memory: async () => await ask<MeshHostMemory>({ rss: true }),
    dhtRequests: async () => {
      if (first === undefined) throw new Error('the mesh host has no node yet')
      const res = await fetch(`${first}/metrics`)
      return counterByLabel(await res.text(), DHT_REQUESTS)
    },
    stop: async () => {
      host.child.stdin!.end()
      try {
        await exitOf(host.child, STOP_TIMEOUT_MS)
      } catch {
        host.child.kill('SIGKILL')
        await exitOf(host.child, STOP_TIMEOUT_MS)
      }
      await removeScratch(tmp)
    }
  }
}
