import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { CM3, FrameSocket, PICKUP3, PICKUP4, TestAgent, post, sendTo } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const PROBLEM_REPORT = 'https://didcomm.org/report-problem/2.0/problem-report'
const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** An agent talking to the node over one WebSocket: requests go out as frames, every frame that comes back is unpacked. */
class SocketClient {
  private readonly unpacked: Plain[] = []
  readonly agent: TestAgent
  readonly socket: FrameSocket
  readonly nodeDid: string

  constructor (agent: TestAgent, socket: FrameSocket, nodeDid: string) {
    this.agent = agent
    this.socket = socket
    this.nodeDid = nodeDid
  }

  /** The decrypted message in frame `index`, waiting for it to arrive. */
  async at (index: number, timeout = 10_000): Promise<Plain> {
    while (this.unpacked.length <= index) {
      const frame = await this.socket.frame(this.unpacked.length, timeout)
      assert.equal(frame.binary, false, 'a client without Origin gets text frames')
      this.unpacked.push((await this.agent.unpack(frame.text)).message)
    }
    return this.unpacked[index] as Plain
  }

  /** The first frame (from `from` on) whose message satisfies `match`, with its index. */
  async find (match: (m: Plain) => boolean, from = 0, timeout = 10_000): Promise<{ message: Plain, index: number }> {
    for (let index = from; ; index++) {
      const message = await this.at(index, timeout)
      if (match(message)) return { message, index }
    }
  }

  /** Sends a request as a frame and waits for the reply frame on its thread. */
  async request (type: string, body: Record<string, unknown>): Promise<{ message: Plain, index: number }> {
    const msg = this.agent.message(type, body, this.nodeDid)
    this.socket.send(await this.agent.pack(msg, this.nodeDid))
    return await this.find(m => m.thid === msg.id)
  }
}

/** Decodes a delivery's attachments (standard padded base64, never base64url) and unpacks each message. */
async function openDelivery (agent: TestAgent, delivery: Plain): Promise<Array<{ id: string, message: Plain }>> {
  const out = []
  for (const attachment of delivery.attachments ?? []) {
    const encoded = attachment.data.base64
    assert.equal(typeof encoded, 'string', 'delivery attachments carry data.base64')
    assert.match(encoded as string, STANDARD_BASE64)
    const packed = Buffer.from(encoded as string, 'base64').toString('utf8')
    out.push({ id: attachment.id ?? '', message: (await agent.unpack(packed)).message })
  }
  return out
}

describe('WebSocket transport', () => {
  const nodes = testNodes()
  let node: TestNode
  const sockets: FrameSocket[] = []

  const open = async (agent: TestAgent): Promise<SocketClient> => {
    const socket = await FrameSocket.open(node.wsUrl)
    sockets.push(socket)
    return new SocketClient(agent, socket, node.did)
  }

  before(async () => { node = await nodes.start() })
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })
  after(async () => { await nodes.stopAll() })

  // Proves every request/reply of mediation and pickup 3.0 works with replies coming back as frames on the socket.
  it('mediation, recipient add and pickup 3.0 entirely over the socket', async () => {
    const wallet = new TestAgent()
    const ws = await open(wallet)

    const grant = (await ws.request(`${CM3}/mediate-request`, {})).message
    assert.equal(grant.type, `${CM3}/mediate-grant`)
    assert.equal(grant.from, node.did)
    assert.deepEqual(grant.body.routing_did, [node.did])

    const pairwise = wallet.newDid(node.did)
    const update = (await ws.request(`${CM3}/recipient-update`, { updates: [{ recipient_did: pairwise, action: 'add' }] })).message
    assert.equal(update.type, `${CM3}/recipient-update-response`)
    assert.deepEqual(update.body.updated, [{ recipient_did: pairwise, action: 'add', result: 'success' }])

    const empty = (await ws.request(`${PICKUP3}/status-request`, {})).message
    assert.equal(empty.type, `${PICKUP3}/status`)
    assert.equal(empty.body.message_count, 0)

    const sent = await sendTo(node, pairwise, 'over the socket')

    const status = (await ws.request(`${PICKUP3}/status-request`, {})).message
    assert.equal(status.body.message_count, 1)
    assert.equal(status.body.live_delivery, false)

    const delivery = (await ws.request(`${PICKUP3}/delivery-request`, { limit: 10 })).message
    assert.equal(delivery.type, `${PICKUP3}/delivery`)
    const received = await openDelivery(wallet, delivery)
    assert.equal(received.length, 1)
    assert.equal(received[0]?.message.id, sent.id)
    assert.deepEqual(received[0]?.message.body, { content: 'over the socket' })

    const ack = (await ws.request(`${PICKUP3}/messages-received`, { message_id_list: received.map(r => r.id) })).message
    assert.equal(ack.type, `${PICKUP3}/status`)
    assert.equal(ack.body.message_count, 0)

    // Nothing left: a delivery-request in 3.0 gets a status, not an empty delivery.
    const after = (await ws.request(`${PICKUP3}/delivery-request`, { limit: 10 })).message
    assert.equal(after.type, `${PICKUP3}/status`)
    assert.equal(after.body.message_count, 0)
  })

  for (const pickup of [PICKUP3, PICKUP4] as const) {
    // Proves live mode: an arriving forward is pushed at once, counts as not waiting while unacknowledged, and is deleted on messages-received.
    it(`pickup ${pickup.slice(-3)} live delivery: a forward arriving over HTTP is pushed to the socket`, async () => {
      const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
      const ws = await open(wallet)

      const enabled = await ws.request(`${pickup}/live-delivery-change`, { live_delivery: true })
      assert.equal(enabled.message.type, `${pickup}/status`)
      assert.equal(enabled.message.body.live_delivery, true)
      assert.equal(enabled.message.body.message_count, 0)

      const sent = await sendTo(node, pairwise, 'live ' + pickup)
      const pushed = await ws.find(m => m.type === `${pickup}/delivery`, enabled.index + 1)
      assert.equal(pushed.message.from, node.did)
      assert.deepEqual(pushed.message.to, [wallet.did])
      const received = await openDelivery(wallet, pushed.message)
      assert.equal(received.length, 1)
      assert.equal(received[0]?.message.id, sent.id)
      assert.deepEqual(received[0]?.message.body, { content: 'live ' + pickup })

      // Pushed but not yet acknowledged: not counted as waiting (a live client would fetch it twice).
      const inFlight = (await ws.request(`${pickup}/status-request`, {})).message
      assert.equal(inFlight.body.message_count, 0)
      assert.equal(inFlight.body.live_delivery, true)

      const ack = (await ws.request(`${pickup}/messages-received`, { message_id_list: received.map(r => r.id) })).message
      assert.equal(ack.type, `${pickup}/status`)
      assert.equal(ack.body.message_count, 0)

      // Really deleted, not just hidden: a fresh HTTP session (not live) sees an empty mailbox.
      const overHttp = await wallet.request(node.url, node.did, `${pickup}/status-request`, {})
      assert.equal(overHttp.body.message_count, 0)
      assert.equal(overHttp.body.live_delivery, false)
      assert.deepEqual(await wallet.pickup(node.url, node.did, { version: pickup }), [])
    })

    // Proves the backlog is pushed on enabling live mode, right after the status reply, which already excludes it.
    it(`pickup ${pickup.slice(-3)} live delivery: messages queued before enabling are pushed right after the status`, async () => {
      const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
      const first = await sendTo(node, pairwise, 'queued 1')
      const second = await sendTo(node, pairwise, 'queued 2')
      const before = await wallet.request(node.url, node.did, `${pickup}/status-request`, {})
      assert.equal(before.body.message_count, 2)

      const ws = await open(wallet)
      const enabled = await ws.request(`${pickup}/live-delivery-change`, { live_delivery: true })
      assert.equal(enabled.message.type, `${pickup}/status`)
      assert.equal(enabled.message.body.message_count, 0)

      const next = await ws.at(enabled.index + 1)
      assert.equal(next.type, `${pickup}/delivery`, 'the frame right after the status is the backlog delivery')
      const received = await openDelivery(wallet, next)
      assert.deepEqual(received.map(r => r.message.id).sort(), [first.id, second.id].sort())
      assert.deepEqual(received.map(r => r.message.body.content).sort(), ['queued 1', 'queued 2'])

      const ack = (await ws.request(`${pickup}/messages-received`, { message_id_list: received.map(r => r.id) })).message
      assert.equal(ack.body.message_count, 0)
      const overHttp = await wallet.request(node.url, node.did, `${pickup}/status-request`, {})
      assert.equal(overHttp.body.message_count, 0)
    })
  }

  // Proves that unacknowledged live pushes are not lost: when the socket closes they count as waiting again.
  it('pushed but unacknowledged messages are waiting again once the live socket closes', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    const ws = await open(wallet)
    const enabled = await ws.request(`${PICKUP3}/live-delivery-change`, { live_delivery: true })
    const sent = await sendTo(node, pairwise, 'not acknowledged')
    await ws.find(m => m.type === `${PICKUP3}/delivery`, enabled.index + 1)
    await ws.socket.close()

    const status = await waitFor(async () => {
      const s = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
      return s.body.message_count === 1 ? s : undefined
    }, 10_000, 'the pushed message to count as waiting again')
    assert.equal(status.body.message_count, 1)
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(received.map(r => r.message.id), [sent.id])
  })

  // Proves live mode is refused where the node cannot push: HTTP gets a problem report e.m.live-mode-not-supported.
  it('live-delivery-change over HTTP is refused with e.m.live-mode-not-supported', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const request = wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did)
    const answer = await post(node.url, await wallet.pack(request, node.did))
    assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`)
    assert.match(answer.contentType, /^application\/didcomm-encrypted\+json/, 'the sender is known, so the report is encrypted to it')
    const { message: problem } = await wallet.unpack(answer.text)
    assert.equal(problem.type, PROBLEM_REPORT)
    assert.equal(problem.body.code, 'e.m.live-mode-not-supported')
    assert.equal(problem.pthid, request.id)
  })
})
