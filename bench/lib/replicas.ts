/**
 * Replicas of one mediator: node processes (`didcomm-mesh start`) over one PostgreSQL database,
 * each with its own data dir holding a copy of one node key, its own ports, and one public URL (a
 * load balancer's, in production), so that every replica publishes the same mediator DID. The
 * benchmark's own (the store scenarios); the replica tests use it too.
 */
import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NODE_KEY_FILE, loadOrCreateNodeKeys } from '../../storage/node-key-file.ts'
import { removeScratch, scratchDir } from './cleanup.ts'
import { startChildNode } from './child-node.ts'
import type { ChildNode } from './child-node.ts'
import { freePort } from './ports.ts'

export interface Replica {
  /** This replica's own HTTP and WebSocket URLs (the DID names the public one). */
  url: string
  wsUrl: string
  did: string
  node: ChildNode
}

export interface ReplicaSet {
  did: string
  replicas: Replica[]
  /** Starts replica `i` again (after a kill), on its port and data dir. */
  restart(i: number): Promise<Replica>
  stop(): Promise<void>
}

export async function startReplicas (storeUrl: string, count: number, extra: string[] = []): Promise<ReplicaSet> {
  const dirs = await Promise.all(Array.from({ length: count }, async () => await scratchDir()))
  const first = dirs[0] as string
  await loadOrCreateNodeKeys(first)
  for (const dir of dirs.slice(1)) await copyFile(join(first, NODE_KEY_FILE), join(dir, NODE_KEY_FILE))
  const ports = await Promise.all(dirs.map(async () => await freePort()))
  const publicUrl = `http://127.0.0.1:${ports[0]}`

  const start = async (i: number): Promise<Replica> => {
    const node = await startChildNode(['--store', storeUrl, '--http-port', String(ports[i]), '--public-url', publicUrl, ...extra], { dataDir: dirs[i] as string })
    return { url: `http://127.0.0.1:${ports[i]}`, wsUrl: `ws://127.0.0.1:${ports[i]}/ws`, did: node.did, node }
  }
  const replicas: Replica[] = []
  const stop = async (): Promise<void> => {
    for (const replica of replicas) await replica.node.stop()
    for (const dir of dirs) await removeScratch(dir)
  }
  try {
    // One at a time: the first applies the schema, the others find it (racing starts are the store's own test).
    for (let i = 0; i < count; i++) replicas.push(await start(i))
    const dids = new Set(replicas.map(replica => replica.did))
    if (dids.size !== 1) throw new Error(`replicas publish different mediator DIDs: ${[...dids].join(', ')}`)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    did: replicas[0]?.did as string,
    replicas,
    async restart (i) {
      const replica = await start(i)
      replicas[i] = replica
      return replica
    },
    stop
  }
}
