/**
 * §4a live mode as Identus (Node, text frames) and the DIF demo (browser, binary frames) use it:
 * live-delivery-change as a text frame, pushes for every recipient the client holds (also ones added
 * later), padded standard base64 attachments, message_count without in-flight pushes, and
 * messages-received over HTTP while the socket is live.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FrameSocket, PICKUP3, TestAgent, sendTo } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const STANDARD_PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

interface LiveClient { wallet: TestAgent, pairwise: string, socket: FrameSocket, status: Plain, statusBinary: boolean }

/** A mediated wallet with one pairwise DID and a socket switched to live mode by a text frame. */
async function goLive (node: TestNode, headers: Record<string, string> = {}, before?: (wallet: TestAgent, pairwise: string) => Promise<void>): Promise<LiveClient> {
  const wallet = new TestAgent()
  await wallet.mediate(node.url, node.did)
  const pairwise = await wallet.pairwiseDid(node.url, node.did)
  await before?.(wallet, pairwise)
  const socket = await FrameSocket.open(node.wsUrl, headers)
  // FrameSocket.send sends a string: a text frame, as both Identus and the DIF demo do.
  socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did), node.did))
  const frame = await socket.frame(0)
  const status = (await wallet.unpack(frame.text)).message
  assert.equal(status.type, `${PICKUP3}/status`)
  assert.equal(status.body.live_delivery, true)
  return { wallet, pairwise, socket, status, statusBinary: frame.binary }
}

/** Unpacks a pushed delivery and its attachments the way the DIF demo does (atob on data.base64). */
async function readDelivery (wallet: TestAgent, text: string): Promise<{ delivery: Plain, messages: Array<{ id: string, message: Plain, base64: string }> }> {
  const delivery = (await wallet.unpack(text)).message
  assert.equal(delivery.type, `${PICKUP3}/delivery`)
  const messages = []
  for (const attachment of delivery.attachments ?? []) {
    const base64 = attachment.data.base64
    assert.equal(typeof base64, 'string', 'pushed attachments carry data.base64')
    messages.push({ id: attachment.id ?? '', message: (await wallet.unpack(atob(base64 ?? ''))).message, base64: base64 ?? '' })
  }
  return { delivery, messages }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('live mode with the default frame rule (auto)', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  // The DIF demo in a browser (the upgrade carries Origin) reads frames with Blob.text(): binary only.
  it('a socket opened with an Origin gets binary frames: the status reply and pushed deliveries in padded base64', async () => {
    const { wallet, pairwise, socket, statusBinary } = await goLive(node, { Origin: 'https://wallet.example' })
    try {
      assert.equal(statusBinary, true)
      const sent = await sendTo(node, pairwise, 'binary push')
      const frame = await socket.frame(1)
      assert.equal(frame.binary, true)
      const { delivery, messages } = await readDelivery(wallet, frame.text)
      assert.equal(delivery.from, node.did)
      assert.deepEqual(delivery.to, [wallet.did])
      assert.equal(messages.length, 1)
      assert.equal(messages[0]?.message.id, sent.id)
      const base64 = messages[0]?.base64 ?? ''
      assert.match(base64, STANDARD_PADDED_BASE64)
      assert.equal(base64.includes('-') || base64.includes('_'), false, 'never base64url: the DIF demo uses atob')
    } finally {
      await socket.close()
    }
  })

  // The Identus SDK on Node drops binary frames: a socket without Origin gets text.
  it('a socket opened without an Origin gets text frames', async () => {
    const { wallet, pairwise, socket, statusBinary } = await goLive(node)
    try {
      assert.equal(statusBinary, false)
      const sent = await sendTo(node, pairwise, 'text push')
      const frame = await socket.frame(1)
      assert.equal(frame.binary, false)
      const { messages } = await readDelivery(wallet, frame.text)
      assert.equal(messages[0]?.message.id, sent.id)
      assert.match(messages[0]?.base64 ?? '', STANDARD_PADDED_BASE64)
    } finally {
      await socket.close()
    }
  })

  // Both clients add pairwise DIDs while connected: pushes must cover recipients added after live mode began.
  it('pushes for a recipient DID added after live mode was enabled', async () => {
    const { wallet, socket } = await goLive(node, { Origin: 'https://wallet.example' })
    try {
      const later = await wallet.pairwiseDid(node.url, node.did)
      const sent = await sendTo(node, later, 'to a later DID')
      const frame = await socket.frame(1)
      const { messages } = await readDelivery(wallet, frame.text)
      assert.equal(messages.length, 1)
      assert.equal(messages[0]?.message.id, sent.id)
      assert.deepEqual(messages[0]?.message.to, [later])
    } finally {
      await socket.close()
    }
  })

  // The DIF demo sends a delivery-request whenever a status shows message_count > 0 and treats the status
  // it gets back as an error: messages pushed live and not yet acknowledged must not count.
  it('message_count excludes live-pushed, unacknowledged messages (backlog and new arrivals)', async () => {
    let queuedBefore: Plain | undefined
    const { wallet, pairwise, socket, status } = await goLive(node, { Origin: 'https://wallet.example' }, async (_wallet, did) => {
      queuedBefore = await sendTo(node, did, 'backlog')
    })
    try {
      // The backlog is claimed for the socket: the live-delivery-change status already leaves it out.
      assert.equal(status.body.message_count, 0)
      const backlog = await readDelivery(wallet, (await socket.frame(1)).text)
      assert.equal(backlog.messages[0]?.message.id, queuedBefore?.id)

      const sent = await sendTo(node, pairwise, 'new arrival')
      const pushed = await readDelivery(wallet, (await socket.frame(2)).text)
      assert.equal(pushed.messages[0]?.message.id, sent.id)

      const overHttp = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
      assert.equal(overHttp.body.message_count, 0)
      socket.send(await wallet.pack(wallet.message(`${PICKUP3}/status-request`, {}, node.did), node.did))
      const overSocket = (await wallet.unpack((await socket.frame(3)).text)).message
      assert.equal(overSocket.type, `${PICKUP3}/status`)
      assert.equal(overSocket.body.message_count, 0)
      assert.equal(overSocket.body.live_delivery, true)
      // A delivery-request the client might still send must not hand the same messages out again.
      const polled = await wallet.pickup(node.url, node.did)
      assert.deepEqual(polled, [])
    } finally {
      await socket.close()
    }
  })

  // Identus acknowledges live deliveries with messages-received over HTTP, not over its socket.
  it('messages-received over HTTP while live removes the messages and the socket never gets them twice', async () => {
    const { wallet, pairwise, socket } = await goLive(node)
    try {
      const first = await sendTo(node, pairwise, 'one')
      const pushed = await readDelivery(wallet, (await socket.frame(1)).text)
      assert.equal(pushed.messages[0]?.message.id, first.id)

      const ack = await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: pushed.messages.map(m => m.id) })
      assert.equal(ack.type, `${PICKUP3}/status`)
      assert.equal(ack.body.message_count, 0)
      // Acknowledging refills the socket from the queue: wait to see that nothing comes.
      await sleep(300)
      assert.equal(socket.frames.length, 2, 'no frame after the acknowledgement')
      assert.deepEqual(await wallet.pickup(node.url, node.did), [], 'the acknowledged message is gone')

      const second = await sendTo(node, pairwise, 'two')
      const next = await readDelivery(wallet, (await socket.frame(2)).text)
      assert.deepEqual(next.messages.map(m => m.message.id), [second.id])
      await sleep(300)
      assert.equal(socket.frames.length, 3)
      const done = await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: next.messages.map(m => m.id) })
      assert.equal(done.body.message_count, 0)
      await sleep(200)
      assert.equal(socket.frames.length, 3)
    } finally {
      await socket.close()
    }
  })

  // A wallet that drops its socket before acknowledging (reload, network change) must still get the message.
  it('a pushed message never acknowledged counts as waiting again once the socket closes', async () => {
    const { wallet, pairwise, socket } = await goLive(node)
    const sent = await sendTo(node, pairwise, 'unacknowledged')
    await socket.frame(1)
    await socket.close()
    await waitFor(async () => {
      const status = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
      return status.body.message_count === 1 ? true : undefined
    }, 5000, 'the pushed message to count again')
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(received.map(r => r.message.id), [sent.id])
  })
})

describe('live mode with websocketFrames: text', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start({ websocketFrames: 'text' }) })
  after(async () => { await nodes.stopAll() })

  // An operator whose browser-like clients read text frames can override the Origin rule.
  it('sends text frames even when the upgrade carried an Origin', async () => {
    const { wallet, pairwise, socket, statusBinary } = await goLive(node, { Origin: 'https://wallet.example' })
    try {
      assert.equal(statusBinary, false)
      const sent = await sendTo(node, pairwise, 'text by config')
      const frame = await socket.frame(1)
      assert.equal(frame.binary, false)
      const { messages } = await readDelivery(wallet, frame.text)
      assert.equal(messages[0]?.message.id, sent.id)
    } finally {
      await socket.close()
    }
  })
})
