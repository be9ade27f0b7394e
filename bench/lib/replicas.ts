/**
 * Replicas of one mediator: node processes (`didcomm-mesh start`) over one PostgreSQL database,
 * each with its own data dir holding a copy of one node key, its own ports, and one public URL (a
 * load balancer's, in production), so that every replica publishes the same mediator DID. The
 * benchmark's own (the store scenarios); the replica tests use it too.
 */
import { copyFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
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
  /** Its own libp2p TCP port (behind the balancer). */
  p2pPort: number
  node: ChildNode
}

export interface ReplicaSet {
  did: string
  replicas: Replica[]
  /** The balancer in front of the replicas' libp2p ports, which they all announce (with the shared peer ID). */
  libp2p: string
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
  const p2pPorts = await Promise.all(dirs.map(async () => await freePort()))
  const publicUrl = `http://127.0.0.1:${ports[0]}`
  // As in production: the libp2p port behind a TCP balancer whose address every replica announces,
  // so a relaying node reaches whichever replica is up (they share the peer ID, Noise proves it).
  const balancer = await startTcpBalancer(p2pPorts)

  const start = async (i: number, tries = 5): Promise<Replica> => {
    const flags = ['--store', storeUrl, '--http-port', String(ports[i]), '--p2p-port', String(p2pPorts[i]), '--public-url', publicUrl, '--announce', `/ip4/127.0.0.1/tcp/${balancer.port}`]
    let node: ChildNode
    try {
      node = await startChildNode([...flags, ...extra], { dataDir: dirs[i] as string })
    } catch (err) {
      // Another test's free-port probe may hold the port a moment (CI saw it): the same port again, shortly.
      if (tries <= 1 || !/already in use/.test(String(err))) throw err
      await new Promise(resolve => setTimeout(resolve, 300))
      return await start(i, tries - 1)
    }
    return { url: `http://127.0.0.1:${ports[i]}`, wsUrl: `ws://127.0.0.1:${ports[i]}/ws`, did: node.did, p2pPort: p2pPorts[i] as number, node }
  }
  const replicas: Replica[] = []
  const stop = async (): Promise<void> => {
    for (const replica of replicas) await replica.node.stop()
    for (const dir of dirs) await removeScratch(dir)
    await balancer.close()
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
    libp2p: replicas[0]?.node.libp2p as string,
    async restart (i) {
      const replica = await start(i)
      replicas[i] = replica
      return replica
    },
    stop
  }
}

/** A TCP load balancer on 127.0.0.1: each connection goes to the next backend that accepts it. */
async function startTcpBalancer (backends: number[]): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let next = 0
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const connectFrom = (client: Socket, tries: number): void => {
    if (tries === 0) {
      client.destroy()
      return
    }
    const upstream = connect(backends[next++ % backends.length] as number, '127.0.0.1')
    const tryNext = (): void => { connectFrom(client, tries - 1) }
    upstream.once('error', tryNext)
    upstream.once('connect', () => {
      upstream.off('error', tryNext)
      track(upstream)
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
  }
  const server = createServer(client => {
    track(client)
    connectFrom(client, backends.length)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('balancer not listening')
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}
