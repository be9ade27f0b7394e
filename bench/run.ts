/**
 * `npm run bench [-- --quick]`: real nodes on 127.0.0.1, real DIDComm messages packed by didcomm-node.
 * Prints a table and writes bench/results/latest.json. Numbers only: nothing here passes or fails.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { toString } from 'uint8arrays'
import { createMeshLibp2p } from '../node/libp2p.ts'
import { createRelay } from '../node/mesh/relay.ts'
import { mediatorKey } from '../node/mesh/routes.ts'
import { BASIC, PICKUP3, TestAgent, TestSocket, post, wrapForward } from '../test/helpers/client.ts'
import type { Plain } from '../test/helpers/client.ts'
import { startTestNode, tempDir, waitFor } from '../test/helpers/node.ts'
import type { TestNode } from '../test/helpers/node.ts'

const quick = process.argv.includes('--quick')
const MESSAGES = quick ? 200 : 2000
const CONCURRENCY = 16
const BODY_BYTES = 1024

function perSecond (count: number, ms: number): number {
  return Math.round(count / (ms / 1000))
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++)
  }))
}

async function unpackCeiling (): Promise<number> {
  const mediator = new TestAgent()
  const sender = new TestAgent()
  const packed = await sender.pack(sender.message(BASIC, { content: 'x'.repeat(BODY_BYTES) }, mediator.did), mediator.did, null)
  const runs = quick ? 200 : 2000
  const start = performance.now()
  for (let i = 0; i < runs; i++) await mediator.unpack(packed)
  return perSecond(runs, performance.now() - start)
}

async function forwardToPickup (): Promise<{ ingest: number, pickup: number }> {
  const dir = await tempDir('didcomm-mesh-bench-')
  const node = await startTestNode({ dataDir: dir.path, maxMessagesPerRecipient: 1_000_000 })
  try {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const business = new TestAgent()
    const forwards = await Promise.all(Array.from({ length: MESSAGES }, async () =>
      await business.pack(business.message(BASIC, { content: 'x'.repeat(BODY_BYTES) }, pairwise), pairwise, business.did, { forward: true })))

    let start = performance.now()
    await pool(MESSAGES, CONCURRENCY, async i => {
      const answer = await post(node.url, forwards[i] as string)
      if (answer.status !== 202) throw new Error(`forward refused: ${answer.status} ${answer.text}`)
    })
    const ingest = perSecond(MESSAGES, performance.now() - start)

    start = performance.now()
    let picked = 0
    // The wallet only acknowledges here: decrypting each message is the wallet's cost, not the node's.
    for (;;) {
      const delivery = await wallet.request(node.url, node.did, `${PICKUP3}/delivery-request`, { limit: 100 })
      const ids = (delivery.attachments ?? []).map(a => a.id as string)
      if (ids.length === 0) break
      await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: ids })
      picked += ids.length
    }
    if (picked !== MESSAGES) throw new Error(`picked up ${picked} of ${MESSAGES}`)
    return { ingest, pickup: perSecond(picked, performance.now() - start) }
  } finally {
    await node.stop()
    await dir.remove()
  }
}

function percentile (sorted: number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN).toFixed(2))
}

/**
 * A 10-node mesh in this process. `e2e`: a business posts to its node, which finds the wallet's home
 * node (9 hops of DHT away at first: `route_cold_ms`), relays, and the home node pushes the message
 * live to the wallet's WebSocket. `relay`: one acknowledged node-to-node hop on a warm connection,
 * from a mesh peer to the home node (acknowledged after the home node's durable write).
 */
async function meshScenario (): Promise<Record<string, number>> {
  const dirs = await Promise.all(Array.from({ length: 10 }, async () => await tempDir('didcomm-mesh-bench-')))
  const nodes = [await startTestNode({ dataDir: dirs[0]?.path })]
  for (let i = 1; i < 10; i++) {
    const node = await startTestNode({ dataDir: dirs[i]?.path, bootstrap: [nodes[0]?.info.multiaddrs[0]] })
    // libp2p takes at most 5 inbound connections a second from one host: join one at a time.
    await waitFor(() => node.node.info().peers.length > 0 ? true : undefined, 20_000, 'a node to join the mesh')
    nodes.push(node)
  }
  const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20)
  const sender = nodes[1] as TestNode
  const home = nodes[9] as TestNode
  const relayPeer = await createMeshLibp2p({ privateKey: toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64'), datastore: new MemoryDatastore(), host: '127.0.0.1', port: 0, wsPort: 0 })
  await relayPeer.start()
  try {
    const wallet = new TestAgent()
    await wallet.mediate(home.url, home.did)
    const pairwise = await wallet.pairwiseDid(home.url, home.did)
    const socket = await TestSocket.open(home.wsUrl)
    socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, home.did), home.did))
    await socket.frame(0)
    const business = new TestAgent()
    await business.mediate(sender.url, sender.did)
    const runs = quick ? 30 : 300
    const packedFor = async (): Promise<string> => await business.pack(business.message(BASIC, { content: 'x'.repeat(BODY_BYTES) }, pairwise), pairwise, business.did, { forward: true })
    const viaSender = await Promise.all(Array.from({ length: runs + 1 }, async () => await wrapForward(business, await packedFor(), home.did, sender.did, business.did)))
    const direct = await Promise.all(Array.from({ length: runs }, packedFor))

    // A settled mesh: the home node's provider record is findable before the first lookup is timed.
    await relayPeer.dial(multiaddr(nodes[0]?.info.multiaddrs[0] as string))
    await waitFor(async () => {
      try {
        for await (const provider of relayPeer.contentRouting.findProviders(await mediatorKey(home.did), { signal: AbortSignal.timeout(2000) })) {
          if (provider.id.toString() === home.info.peerId) return true
        }
      } catch {
        // not found within the timeout: ask again
      }
      return undefined
    }, 60_000, "the home node's DHT record")

    // Frames interleave pushes with the status answering each acknowledgement: wait for the next delivery.
    let frames = 1
    const nextDelivery = async (): Promise<Plain> => {
      for (;;) {
        const message = (await wallet.unpack((await socket.frame(frames++, 60_000)).text)).message
        if (message.type === `${PICKUP3}/delivery`) return message
      }
    }
    const e2e: number[] = []
    for (let i = 0; i <= runs; i++) {
      const start = performance.now()
      await post(sender.url, viaSender[i] as string)
      const pushed = await nextDelivery()
      e2e.push(performance.now() - start)
      socket.send(await wallet.pack(wallet.message(`${PICKUP3}/messages-received`, { message_id_list: (pushed.attachments ?? []).map(a => a.id) }, home.did), home.did))
    }
    const coldMs = Math.round(e2e.shift() ?? NaN)

    const relay = createRelay(relayPeer)
    const route = { kind: 'libp2p' as const, peerId: peerIdFromString(home.info.peerId) }
    await relayPeer.dial(multiaddr(home.info.multiaddrs[0] as string))
    const hops: number[] = []
    for (const packed of direct) {
      const start = performance.now()
      const result = await relay.send(route, packed)
      if (result.outcome !== 'accepted') throw new Error(`relay not accepted: ${JSON.stringify(result)}`)
      hops.push(performance.now() - start)
    }
    await socket.close()
    e2e.sort((a, b) => a - b)
    hops.sort((a, b) => a - b)
    return {
      route_cold_ms: coldMs,
      relay_p50_ms: percentile(hops, 0.5),
      relay_p99_ms: percentile(hops, 0.99),
      e2e_p50_ms: percentile(e2e, 0.5),
      e2e_p99_ms: percentile(e2e, 0.99),
      rss_10_nodes_mb: rssMb
    }
  } finally {
    await relayPeer.stop()
    for (const node of nodes) await node.stop()
    for (const dir of dirs) await dir.remove()
  }
}

const ceiling = await unpackCeiling()
const { ingest, pickup } = await forwardToPickup()
const mesh = await meshScenario()
const results = {
  date: new Date().toISOString(),
  cores: availableParallelism(),
  node: process.version,
  quick,
  messages: MESSAGES,
  unpack_ceiling_per_s: ceiling,
  ingest_per_s: ingest,
  ingest_ratio: Number((ingest / ceiling).toFixed(3)),
  http_pickup_per_s: pickup,
  ...mesh
}
console.table(Object.entries(results).map(([figure, value]) => ({ figure, value })))
await mkdir(new URL('results/', import.meta.url), { recursive: true })
await writeFile(new URL('results/latest.json', import.meta.url), JSON.stringify(results, null, 2) + '\n')
