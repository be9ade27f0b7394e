/**
 * Replicas of one mediator: node processes (`didcomm-mesh start`) over one PostgreSQL database,
 * each with its own data dir holding a copy of one node key, its own ports, and one public URL (a
 * load balancer's, in production), so that every replica publishes the same mediator DID.
 */
import assert from 'node:assert/strict'
import { copyFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { removeScratch, scratchDir } from '../../bench/lib/cleanup.ts'
import { startChildNode } from '../../bench/lib/child-node.ts'
import type { ChildNode } from '../../bench/lib/child-node.ts'
import { NODE_KEY_FILE, loadOrCreateNodeKeys } from '../../storage/node-key-file.ts'

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

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (typeof address !== 'object' || address === null) throw new Error('no free port')
  return address.port
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
  try {
    // One at a time: the first applies the schema, the others find it (racing starts are the store's own test).
    for (let i = 0; i < count; i++) replicas.push(await start(i))
  } catch (err) {
    for (const replica of replicas) await replica.node.stop()
    for (const dir of dirs) await removeScratch(dir)
    throw err
  }
  const did = replicas[0]?.did as string
  for (const replica of replicas) assert.equal(replica.did, did, 'every replica publishes the same mediator DID')
  return {
    did,
    replicas,
    async restart (i) {
      const replica = await start(i)
      replicas[i] = replica
      return replica
    },
    async stop () {
      for (const replica of replicas) await replica.node.stop()
      for (const dir of dirs) await removeScratch(dir)
    }
  }
}
