import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { DIDCOMM_MESH_PROTOCOL, decodeStatus } from '../../node/wire.ts'
import type { StatusFrame } from '../../node/wire.ts'
import { BASIC, CM3, PICKUP3, TestAgent } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('libp2p transport: /didcomm-mesh/didcomm/1.0.0', () => {
  const nodes = testNodes()
  let node: TestNode
  // A separate libp2p host playing a libp2p-capable agent (or another node).
  let peer: Libp2p

  before(async () => {
    node = await nodes.start()
    peer = await createLibp2p({
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
  })
  after(async () => {
    await peer.stop()
    await nodes.stopAll()
  })

  /** One request on a fresh stream: a length-prefixed frame out, the status frame back. */
  const sendFrame = async (packed: string): Promise<StatusFrame> => {
    const address = node.info.multiaddrs[0]
    assert.ok(address !== undefined, 'the node listens on libp2p')
    const stream = await peer.dialProtocol(multiaddr(address), DIDCOMM_MESH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    try {
      const lp = lpStream(stream)
      await lp.write(new TextEncoder().encode(packed), { signal: AbortSignal.timeout(10_000) })
      const answer = await lp.read({ signal: AbortSignal.timeout(10_000) })
      return decodeStatus(answer.subarray())
    } finally {
      await stream.close().catch(() => { stream.abort(new Error('closing')) })
    }
  }

  const packForward = async (to: string, content: string): Promise<{ sent: Plain, packed: string }> => {
    const business = new TestAgent()
    const sent = business.message(BASIC, { content }, to)
    return { sent, packed: await business.pack(sent, to, business.did, { forward: true, protect_sender: true }) }
  }

  // Proves a forward over libp2p is acknowledged with `accepted` and really queued: the wallet picks it up over HTTP.
  it('a forward for a mediated wallet is accepted and picked up over HTTP', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const { sent, packed } = await packForward(pairwise, 'over libp2p')

    const frame = await sendFrame(packed)
    assert.equal(frame.status, 'accepted', JSON.stringify(frame))
    assert.equal(frame.code, undefined)

    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.equal(received.length, 1)
    assert.equal(received[0]?.message.id, sent.id)
    assert.deepEqual(received[0]?.message.body, { content: 'over libp2p' })
  })

  // Proves a forward for a DID nobody registered is rejected with a problem code, and nothing is stored.
  it('a forward to an unknown DID is rejected with a code', async () => {
    const stranger = new TestAgent()
    const unknown = stranger.newDid(node.did)
    const { packed } = await packForward(unknown, 'nobody home')

    const frame = await sendFrame(packed)
    assert.equal(frame.status, 'rejected')
    assert.equal(frame.code, 'e.p.req.unknown-recipient')
    assert.equal(typeof frame.comment, 'string')
  })

  // Proves requests with replies work over libp2p: a mediate-request is answered in the status frame with an encrypted grant.
  it('a mediate-request is accepted with the mediate-grant as replies[0]', async () => {
    const agent = new TestAgent()
    const request = agent.message(`${CM3}/mediate-request`, {}, node.did)
    const frame = await sendFrame(await agent.pack(request, node.did))
    assert.equal(frame.status, 'accepted', JSON.stringify(frame))
    assert.equal(frame.replies?.length, 1)

    const reply = frame.replies?.[0] as string
    assert.equal(typeof (JSON.parse(reply) as { ciphertext?: unknown }).ciphertext, 'string', 'the reply is a JWE')
    const { message: grant, authenticated } = await agent.unpack(reply)
    assert.equal(authenticated, true)
    assert.equal(grant.type, `${CM3}/mediate-grant`)
    assert.equal(grant.thid, request.id)
    assert.deepEqual(grant.body.routing_did, [node.did])

    // The grant is real: the agent is enrolled for pickup over HTTP now.
    const status = await agent.request(node.url, node.did, `${PICKUP3}/status-request`, {})
    assert.equal(status.body.message_count, 0)
  })

  // Proves frames pipelined on one stream are each answered, in order, and the good ones queued once.
  it('frames pipelined on one stream get one status each, in order', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const forwards = await Promise.all(Array.from({ length: 20 }, async (_, i) => await packForward(pairwise, `pipelined ${i}`)))
    const frames = forwards.map(forward => forward.packed)
    frames.splice(7, 0, '{"not":"a jwe"}')

    const stream = await peer.dialProtocol(multiaddr(node.info.multiaddrs[0] as string), DIDCOMM_MESH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream)
    await Promise.all(frames.map(async frame => { await lp.write(new TextEncoder().encode(frame), { signal: AbortSignal.timeout(10_000) }) }))
    const statuses: StatusFrame[] = []
    for (let i = 0; i < frames.length; i++) statuses.push(decodeStatus((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()))
    await stream.close()

    assert.deepEqual(statuses.map(status => status.status), frames.map((_, i) => i === 7 ? 'rejected' : 'accepted'))
    assert.equal(statuses[7]?.code, 'e.p.msg.unencrypted')
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(received.map(r => r.message.body.content).sort(), forwards.map(f => f.sent.body.content).sort())
  })
})
