/**
 * Limits that keep one client or peer from taking a node down: requests a second per IP (HTTP and
 * WebSocket), per libp2p peer and per libp2p host, libp2p connections per host, slow HTTP senders, idle and dead WebSockets, oversized WebSocket
 * and libp2p frames refused from their headers, DIDComm streams per connection. Honest traffic keeps
 * flowing through each.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import WebSocket from 'ws'
import { DIDCOMM_MESH_PROTOCOL, decodeStatus } from '../../node/wire.ts'
import { BASIC, FrameSocket, PICKUP3, TestAgent, post } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

/** An unsigned LEB128 varint, as libp2p length-prefixes frames. */
function varint (value: number): Uint8Array {
  const bytes: number[] = []
  for (let rest = value; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) return Uint8Array.from([...bytes, rest])
    bytes.push((rest % 128) | 0x80)
  }
}

const PING_PROTOCOL = '/ipfs/ping/1.0.0'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function closeCode (ws: WebSocket, timeout: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the socket stayed open')) }, timeout)
    ws.once('close', code => { clearTimeout(timer); resolve(code) })
  })
}

describe('limits', () => {
  const nodes = testNodes()
  let node: TestNode
  let peer: Libp2p

  before(async () => {
    node = await nodes.start({ rateLimit: 5, rateBurst: 5, rateP2pPeersPerHost: 2, requestTimeoutSeconds: 1, websocketIdleSeconds: 1, maxMessageBytes: 64 * 1024 })
    peer = await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
  })
  after(async () => {
    await peer.stop()
    await nodes.stopAll()
  })

  it('HTTP: beyond the burst an IP gets 429 with Retry-After before its body is read, then is served again', async () => {
    const agent = new TestAgent()
    const ping = async (): Promise<number> => (await post(node.url, await agent.pack(agent.message(`${PICKUP3}/status-request`, {}, node.did), node.did))).status
    const answers = await Promise.all(Array.from({ length: 12 }, async () => await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: '{}' })))
    const limited = answers.filter(answer => answer.status === 429)
    assert.ok(limited.length >= 6, `at most the burst of 5 got through: ${answers.map(a => a.status).join(',')}`)
    assert.equal(limited[0]?.headers.get('retry-after'), '1')
    assert.equal((await limited[0]?.json() as { body: { code: string } }).body.code, 'e.p.req.rate-limited')
    await sleep(1100)
    assert.notEqual(await ping(), 429, 'the bucket refills')
  })

  it('WebSocket: shares the IP budget; a message over it gets a rate-limited problem report, the socket stays', async () => {
    await sleep(1100)
    const socket = await FrameSocket.open(node.wsUrl)
    try {
      for (let i = 0; i < 8; i++) socket.send('{}')
      const frames = await Promise.all(Array.from({ length: 8 }, async (_, i) => JSON.parse((await socket.frame(i)).text) as { body: { code: string } }))
      const codes = frames.map(frame => frame.body.code)
      assert.ok(codes.filter(code => code === 'e.p.req.rate-limited').length >= 3, codes.join(','))
      assert.ok(codes.includes('e.p.msg.unencrypted'), 'the first ones were processed')
    } finally {
      await socket.close()
    }
  })

  it('HTTP: a client sending its headers too slowly is disconnected', async () => {
    const { port } = new URL(node.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise(resolve => socket.once('connect', resolve))
    socket.write('POST / HTTP/1.1\r\nHost: x\r\n')
    const dripping = setInterval(() => { socket.write('X-Slow: 1\r\n') }, 300)
    const closedAfter = await new Promise<number>(resolve => {
      const start = Date.now()
      socket.on('error', () => {})
      socket.once('close', () => { resolve(Date.now() - start) })
    })
    clearInterval(dripping)
    assert.ok(closedAfter < 5000, `closed after ${closedAfter} ms`)
  })

  it('WebSocket: an idle socket not in live mode is closed; a frame over the size limit closes it with 1009', async () => {
    const idle = new WebSocket(node.wsUrl)
    await new Promise(resolve => idle.once('open', resolve))
    assert.equal(await closeCode(idle, 5000), 1000)

    const big = new WebSocket(node.wsUrl)
    await new Promise(resolve => big.once('open', resolve))
    big.send('x'.repeat(64 * 1024 + 1))
    assert.equal(await closeCode(big, 5000), 1009)
  })

  it('libp2p: a frame announcing more than the limit is refused from its length prefix; streams per connection are capped', async () => {
    const address = multiaddr(node.info.multiaddrs[0] as string)
    const endless = await peer.dialProtocol(address, DIDCOMM_MESH_PROTOCOL)
    // Announces 1 GiB and sends a few bytes of it: the node must not wait for (or buffer) the rest.
    endless.send(varint(1024 * 1024 * 1024))
    endless.send(new Uint8Array(1000))
    await waitFor(() => endless.status !== 'open' ? true : undefined, 5000, 'the node to reset the stream')

    const streams = await Promise.allSettled(Array.from({ length: 24 }, async () => await peer.dialProtocol(address, DIDCOMM_MESH_PROTOCOL)))
    const opened = streams.flatMap(result => result.status === 'fulfilled' ? [result.value] : [])
    // Streams over the cap are reset by the node once negotiated.
    await sleep(500)
    const stillOpen = opened.filter(stream => stream.status === 'open')
    assert.ok(stillOpen.length <= 16, `${stillOpen.length} streams open at once`)
    for (const stream of opened) stream.abort(new Error('done'))
    await peer.hangUp(address)

    const health = await fetch(new URL('health', node.url))
    assert.equal(health.status, 200)
  })

  it('libp2p: a peer over the rate limit gets rejected statuses with the rate-limited code', async () => {
    await peer.hangUp(multiaddr(node.info.multiaddrs[0] as string))
    await sleep(1100)
    const stream = await peer.dialProtocol(multiaddr(node.info.multiaddrs[0] as string), DIDCOMM_MESH_PROTOCOL)
    const lp = lpStream(stream)
    for (let i = 0; i < 10; i++) await lp.write(new TextEncoder().encode('{}'))
    const codes: Array<string | undefined> = []
    for (let i = 0; i < 10; i++) codes.push(decodeStatus((await lp.read()).subarray()).code)
    await stream.close()
    assert.ok(codes.filter(code => code === 'e.p.req.rate-limited').length >= 4, codes.join(','))
    assert.ok(codes.includes('e.p.msg.unencrypted'), 'the first ones were processed')
  })

  it('libp2p: a host opening connections faster than libp2p allows is refused past the threshold, and HTTP wallets are still served', async () => {
    const address = multiaddr(node.info.multiaddrs[0] as string)
    const flood = await Promise.all(Array.from({ length: 12 }, async () => await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })))
    try {
      const dials = await Promise.allSettled(flood.map(async host => await host.dial(address, { signal: AbortSignal.timeout(5000) })))
      await sleep(300)
      const open = flood.filter(host => host.getConnections().some(connection => connection.status === 'open'))
      // libp2p's inbound threshold: 5 new connections a second from one host.
      assert.ok(open.length <= 6, `${open.length} of 12 connections from one host stayed open (dials: ${dials.map(d => d.status).join(',')})`)
      const agent = new TestAgent()
      const answer = await post(node.url, await agent.pack(agent.message(`${PICKUP3}/status-request`, {}, node.did), node.did))
      assert.notEqual(answer.status, 500)
      assert.equal((await fetch(new URL('health', node.url))).status, 200)
    } finally {
      await Promise.all(flood.map(async host => { await host.stop() }))
    }
  })

  it('libp2p: fresh peer IDs from one host, each within its own budget, are limited together', async () => {
    await sleep(1100)
    const address = multiaddr(node.info.multiaddrs[0] as string)
    const hosts: Libp2p[] = []
    try {
      const streams = []
      // One connection at a time: libp2p refuses more than 5 new connections a second from one host.
      for (let i = 0; i < 8; i++) {
        const host = await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
        hosts.push(host)
        streams.push(await host.dialProtocol(address, DIDCOMM_MESH_PROTOCOL))
        await sleep(250)
      }
      // Each peer sends its own burst of 5; the host's budget is 2 peers' (a burst of 10).
      const codes = (await Promise.all(streams.map(async stream => {
        const lp = lpStream(stream)
        for (let i = 0; i < 5; i++) await lp.write(new TextEncoder().encode('{}'))
        const got: Array<string | undefined> = []
        for (let i = 0; i < 5; i++) got.push(decodeStatus((await lp.read()).subarray()).code)
        await stream.close()
        return got
      }))).flat()
      assert.ok(codes.filter(code => code === 'e.p.req.rate-limited').length >= 15, codes.join(','))
      assert.ok(codes.includes('e.p.msg.unencrypted'), 'the first ones were processed')
    } finally {
      await Promise.all(hosts.map(async host => { await host.stop() }))
    }
  })

  it('libp2p: one host holds at most max-connections-per-host inbound connections, whatever its peer IDs', async () => {
    const capped = await nodes.start({ maxConnectionsPerHost: 2 })
    const address = multiaddr(capped.info.multiaddrs[0] as string)
    const hosts: Libp2p[] = []
    try {
      // One at a time, under libp2p's 5 new connections a second from one host.
      for (let i = 0; i < 4; i++) {
        const host = await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
        hosts.push(host)
        await host.dial(address, { signal: AbortSignal.timeout(5000) }).catch(() => {})
        await sleep(250)
      }
      const open = hosts.filter(host => host.getConnections().some(connection => connection.status === 'open'))
      assert.equal(open.length, 2, `${open.length} of 4 hosts' connections stayed open`)
      assert.equal(capped.node.info().peers.length, 2)
    } finally {
      await Promise.all(hosts.map(async host => { await host.stop() }))
    }
  })
})

describe('limits: libp2p heartbeats', () => {
  const nodes = testNodes()
  after(async () => { await nodes.stopAll() })

  it("a connected peer gets no heartbeat pings: libp2p's would open a stream on every connection every 10 s, for a round-trip time nothing reads", async () => {
    const node = await nodes.start()
    const pinged: string[] = []
    const peer = await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
    try {
      await peer.handle(PING_PROTOCOL, stream => {
        pinged.push(new Date().toISOString())
        stream.abort(new Error('counted'))
      })
      await peer.dial(multiaddr(node.info.multiaddrs[0] as string))
      // Connected and identified: the node's protocols are known to the peer.
      await waitFor(async () => (await peer.peerStore.get(peerIdFromString(node.info.peerId))).protocols.length > 0 ? true : undefined, 5_000, "the node's identify")
      // libp2p's connection monitor pings every connection 10 s after it starts, then every 10 s.
      await sleep(11_000)
      assert.equal(peer.getConnections().length, 1, 'still connected')
      assert.deepEqual(pinged, [], 'pings from the node')
    } finally {
      await peer.stop()
    }
  })
})

describe('limits: new libp2p connections a second from one host', () => {
  const nodes = testNodes()
  after(async () => { await nodes.stopAll() })

  /** Eight hosts dialling the node at once: how many connections it admitted. */
  async function admittedAtOnce (node: TestNode): Promise<number> {
    const address = multiaddr(node.info.multiaddrs[0] as string)
    const hosts = await Promise.all(Array.from({ length: 8 }, async () => await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })))
    try {
      await Promise.all(hosts.map(async host => { await host.dial(address, { signal: AbortSignal.timeout(5000) }).catch(() => {}) }))
      return hosts.filter(host => host.getConnections().some(connection => connection.status === 'open')).length
    } finally {
      await Promise.all(hosts.map(async host => { await host.stop() }))
    }
  }

  it("admits libp2p's 5 a second by default, and as many as inbound-connections-per-second allows", async () => {
    assert.ok(await admittedAtOnce(await nodes.start()) <= 5, 'at most 5 of 8 at once by default')
    assert.equal(await admittedAtOnce(await nodes.start({ inboundConnectionsPerSecond: 100 })), 8, 'all 8 with the limit raised')
  })
})

describe('limits: WebSocket frames waiting per socket', () => {
  const nodes = testNodes()
  let node: TestNode
  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  it('a client pipelining a few frames gets every answer; one flooding 1,000 is closed with 1008, memory stays bounded', async () => {
    const agent = new TestAgent()
    const packed = await agent.pack(agent.message(`${PICKUP3}/status-request`, {}, node.did), node.did)
    const honest = await FrameSocket.open(node.wsUrl)
    try {
      for (let i = 0; i < 20; i++) honest.send(packed)
      await honest.frame(19, 30_000)
    } finally {
      await honest.close()
    }

    // Forwards each wait for a synced write, so they arrive much faster than they are handled.
    const { pairwise } = await TestAgent.mediatedWallet(node)
    const forward = await agent.pack(agent.message(BASIC, { content: 'flood' }, pairwise), pairwise, agent.did, { forward: true })
    const heapBefore = process.memoryUsage().heapUsed
    const flood = new WebSocket(node.wsUrl)
    await new Promise(resolve => flood.once('open', resolve))
    const closed = closeCode(flood, 30_000)
    for (let i = 0; i < 1000; i++) flood.send(forward)
    const reason = new Promise<string>(resolve => flood.once('close', (_code, text: Buffer) => { resolve(text.toString()) }))
    assert.equal(await closed, 1008)
    assert.match(await reason, /too many messages waiting/)
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'the flood was not buffered')

    assert.equal((await fetch(new URL('health', node.url))).status, 200)
    const next = await FrameSocket.open(node.wsUrl)
    try {
      next.send(packed)
      assert.match((await next.frame(0)).text, /ciphertext/, 'a new socket is served')
    } finally {
      await next.close()
    }
  })
})
