/**
 * How much one libp2p connection can make the node hold at once: frames being processed are
 * bounded per connection across all its streams and both DIDComm protocols, each frame holding up
 * to the message size limit. The inbound pipeline is a stub that holds every frame until released.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { pino } from 'pino'
import type { Inbound } from '../../node/inbound.ts'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { createRateLimiter } from '../../node/rate-limit.ts'
import { startLibp2pTransport } from '../../node/transports/libp2p.ts'
import { DIDCOMM_MESH_PROTOCOL, DIF_DIDCOMM_PROTOCOL, decodeStatus } from '../../node/wire.ts'
import { waitFor } from '../helpers/node.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const host = async (listen: string[]): Promise<Libp2p> => await createLibp2p({ addresses: { listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })

let node: Libp2p
let peer: Libp2p
let running = 0
let most = 0
let gate = Promise.withResolvers<void>()
const inbound: Inbound = {
  async receive () {
    most = Math.max(most, ++running)
    await gate.promise
    running--
    return { replies: [] }
  }
}

before(async () => {
  node = await host(['/ip4/127.0.0.1/tcp/0'])
  const unlimited = createRateLimiter({ perSecond: 0, burst: 1 })
  await startLibp2pTransport(node as unknown as MeshLibp2p, inbound, { maxMessageBytes: 1024, rateLimiter: unlimited, hostRateLimiter: unlimited }, pino({ level: 'silent' }))
  peer = await host([])
})
after(async () => {
  gate.resolve()
  await peer.stop()
  await node.stop()
})
beforeEach(() => {
  most = 0
  gate = Promise.withResolvers<void>()
})

it('frames pipelined on several streams of one connection: at most 32 in process at once, the rest wait and are all answered', async () => {
  const streams = await Promise.all(Array.from({ length: 4 }, async () => await peer.dialProtocol(node.getMultiaddrs()[0] as Parameters<Libp2p['dialProtocol']>[0], DIDCOMM_MESH_PROTOCOL)))
  const framed = streams.map(stream => lpStream(stream))
  for (const lp of framed) for (let i = 0; i < 20; i++) await lp.write(new TextEncoder().encode('{}'))
  await waitFor(() => running >= 32 ? true : undefined, 5_000, '32 frames in process')
  await sleep(300)
  assert.equal(most, 32, '80 frames sent, each stream within its own 32')

  gate.resolve()
  const statuses = await Promise.all(framed.map(async lp => {
    const got: string[] = []
    for (let i = 0; i < 20; i++) got.push(decodeStatus((await lp.read()).subarray()).status)
    return got
  }))
  assert.deepEqual(statuses.flat(), Array(80).fill('accepted'))
  for (const stream of streams) await stream.close()
})

it('didcomm/v2 messages, one per stream: a stream stays open until its message is processed, so at most 16 are held', async () => {
  const address = node.getMultiaddrs()[0] as Parameters<Libp2p['dialProtocol']>[0]
  for (let i = 0; i < 40; i++) {
    const stream = await peer.dialProtocol(address, DIF_DIDCOMM_PROTOCOL)
    await lpStream(stream).write(new TextEncoder().encode('{}')).catch(() => {})
  }
  await sleep(500)
  assert.ok(most <= 16, `${most} didcomm/v2 messages in process at once`)
  gate.resolve()
})
