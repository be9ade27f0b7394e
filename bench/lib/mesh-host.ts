/**
 * `node --expose-gc bench/lib/mesh-host.ts`: a mesh of in-process nodes in a process of its own, so
 * that its RSS and libp2p's per-process metrics (the DHT's request counters, summed over every node
 * here) describe the mesh alone, not the benchmark driving it. Driven by child-mesh.ts: one JSON
 * command a line on stdin, one JSON answer a line on stdout; the end of stdin stops every node.
 *   {"grow": n} -> {"nodes": [MeshHostNode, ...]}   starts nodes until there are n
 *   {"rss": true} -> MeshHostMemory                 after a full garbage collection
 */
import { createInterface } from 'node:readline'
import { startMesh } from './in-process-mesh.ts'
import type { Mesh } from './in-process-mesh.ts'
import type { InProcessNode } from './in-process-node.ts'

/** What the benchmark needs of each node: its endpoints, and what the DHT knows it by. */
export interface MeshHostNode { url: string, wsUrl: string, did: string, peerId: string, multiaddr: string }

export type MeshHostCommand = { grow: number } | { rss: true }

/** The host's memory in MiB: all of it (RSS), and the V8 heap in use (the rest is native: LevelDB, sockets, buffers, code). */
export interface MeshHostMemory { rssMb: number, heapMb: number }

/**
 * Every node is on 127.0.0.1 here, as no two mesh nodes would be: the per-host inbound connection
 * limits (32 open, 5 new a second) would otherwise refuse most of the mesh's dials.
 */
const NODE_FLAGS = { maxConnectionsPerHost: 10_000, inboundConnectionsPerSecond: 10_000 }

function describe (node: InProcessNode): MeshHostNode {
  return { url: node.url, wsUrl: node.wsUrl, did: node.did, peerId: node.info.peerId, multiaddr: node.info.multiaddrs[0] as string }
}

function memory (): MeshHostMemory {
  // Run with --expose-gc: garbage left from starting nodes would otherwise count as their memory.
  globalThis.gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  return { rssMb: Math.round(rss / 2 ** 20), heapMb: Math.round(heapUsed / 2 ** 20) }
}

async function answer (mesh: Mesh | undefined, command: MeshHostCommand): Promise<{ mesh: Mesh | undefined, reply: unknown }> {
  if ('rss' in command) return { mesh, reply: memory() }
  if (!Number.isInteger(command.grow) || command.grow < 1) throw new Error(`grow: ${command.grow} is no number of nodes`)
  if (mesh === undefined) mesh = await startMesh(command.grow, NODE_FLAGS)
  else await mesh.grow(command.grow)
  return { mesh, reply: { nodes: mesh.nodes.map(describe) } }
}

async function main (): Promise<void> {
  let mesh: Mesh | undefined
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      try {
        const result = await answer(mesh, JSON.parse(line) as MeshHostCommand)
        mesh = result.mesh
        process.stdout.write(JSON.stringify(result.reply) + '\n')
      } catch (err) {
        process.stdout.write(JSON.stringify({ error: String(err) }) + '\n')
      }
    }
  } finally {
    await mesh?.stop()
  }
}

await main()
// Exit explicitly: libp2p timers of the stopped nodes must not hold the process open.
process.exit(0)
