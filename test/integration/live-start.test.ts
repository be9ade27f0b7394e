/**
 * A clean live start, as the DIF DIDComm demo needs it: the demo turns live mode on with messages
 * already waiting (and more arriving meanwhile), and whenever a `status` shows `message_count > 0` it
 * sends a `delivery-request` over HTTP and throws "Unexpected reply" when a `status` answers it. So a
 * status on a live connection must count only what the wallet must still ask for, never a message
 * the node is about to push; and nothing may come twice. The race is timing-dependent: the round
 * runs many times.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FrameSocket, PICKUP3, TestAgent, sendTo } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const ROUNDS = 50
const BACKLOG = 3
const ARRIVING = 3
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The demo's client side of live mode: every status and delivery it sees, handled as the demo does. */
class DemoClient {
  /** Message id → how many times it was received. */
  readonly received = new Map<string, number>()
  /** Every delivery-request the client had to send, and what answered it. */
  readonly asked: string[] = []
  private handled = 0
  private readonly wallet: TestAgent
  private readonly node: TestNode
  private readonly socket: FrameSocket

  constructor (wallet: TestAgent, node: TestNode, socket: FrameSocket) {
    this.wallet = wallet
    this.node = node
    this.socket = socket
  }

  async goLive (): Promise<void> {
    this.socket.send(await this.wallet.pack(this.wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, this.node.did), this.node.did))
  }

  /** Handles the frames that came so far, waiting for the next one when `wait`. */
  async handleFrames (wait: boolean): Promise<void> {
    if (wait) await this.socket.frame(this.handled)
    while (this.handled < this.socket.frames.length) {
      const frame = this.socket.frames[this.handled++] as { text: string }
      await this.handle((await this.wallet.unpack(frame.text)).message)
    }
  }

  private async handle (message: Plain): Promise<void> {
    if (message.type === `${PICKUP3}/delivery`) {
      await this.take(message)
      return
    }
    assert.equal(message.type, `${PICKUP3}/status`)
    if ((message.body.message_count as number) === 0) return
    // The demo: a status with messages → ask for them over HTTP, and a status in answer is an error.
    const reply = await this.wallet.request(this.node.url, this.node.did, `${PICKUP3}/delivery-request`, { limit: 10 })
    this.asked.push(reply.type)
    assert.equal(reply.type, `${PICKUP3}/delivery`, `Unexpected reply: a status with message_count ${String(message.body.message_count)} led to a delivery-request answered by ${reply.type}`)
    await this.take(reply)
  }

  /** Reads a delivery's messages (atob on data.base64, as the demo does) and acknowledges them on the socket. */
  private async take (delivery: Plain): Promise<void> {
    const ids: string[] = []
    for (const attachment of delivery.attachments ?? []) {
      const inner = (await this.wallet.unpack(atob(attachment.data.base64 ?? ''))).message
      this.received.set(inner.id, (this.received.get(inner.id) ?? 0) + 1)
      ids.push(attachment.id ?? '')
    }
    this.socket.send(await this.wallet.pack(this.wallet.message(`${PICKUP3}/messages-received`, { message_id_list: ids }, this.node.did), this.node.did))
  }
}

describe('a clean live start (DIF demo behaviour)', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  it(`going live with messages waiting and arriving: no status ever counts what is being pushed, each message once (${ROUNDS} rounds)`, { timeout: 300_000 }, async () => {
    let askedInAll = 0
    for (let round = 0; round < ROUNDS; round++) {
      const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
      const sent: Plain[] = []
      for (let i = 0; i < BACKLOG; i++) sent.push(await sendTo(node, pairwise, `backlog ${round}.${i}`))
      const socket = await FrameSocket.open(node.wsUrl, { Origin: 'https://wallet.example' })
      try {
        const client = new DemoClient(wallet, node, socket)
        await client.goLive()
        // More arrive while the socket goes live and the backlog is pushed.
        const arriving = Promise.all(Array.from({ length: ARRIVING }, async (_, i) => await sendTo(node, pairwise, `arriving ${round}.${i}`)))
        const deadline = Date.now() + 20_000
        while (client.received.size < BACKLOG + ARRIVING) {
          assert.ok(Date.now() < deadline, `round ${round}: got ${client.received.size} of ${BACKLOG + ARRIVING}`)
          await client.handleFrames(true)
        }
        sent.push(...await arriving)
        // Whatever else comes (the statuses answering the last acknowledgements) is handled too: a
        // count there would make the demo ask again, and a message pushed again would count twice.
        await sleep(50)
        await client.handleFrames(false)
        assert.deepEqual([...client.received.keys()].sort(), sent.map(m => m.id).sort(), `round ${round}: every message`)
        for (const [id, times] of client.received) assert.equal(times, 1, `round ${round}: ${id} received ${times} times`)
        askedInAll += client.asked.length
      } finally {
        await socket.close()
      }
    }
    // Everything came by push: the demo never had a reason to ask.
    assert.equal(askedInAll, 0)
  })

  it('more waiting than the in-flight window (150): the status counts the rest, the demo asks for them over HTTP, and still nothing comes twice', { timeout: 120_000 }, async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    const sent: Plain[] = []
    for (let i = 0; i < 150; i++) sent.push(await sendTo(node, pairwise, `big backlog ${i}`))
    const socket = await FrameSocket.open(node.wsUrl, { Origin: 'https://wallet.example' })
    try {
      const client = new DemoClient(wallet, node, socket)
      await client.goLive()
      const deadline = Date.now() + 60_000
      while (client.received.size < sent.length) {
        assert.ok(Date.now() < deadline, `got ${client.received.size} of ${sent.length}`)
        await client.handleFrames(true)
      }
      await sleep(100)
      await client.handleFrames(false)
      assert.deepEqual([...client.received.keys()].sort(), sent.map(m => m.id).sort())
      for (const [id, times] of client.received) assert.equal(times, 1, `${id} received ${times} times`)
      assert.ok(client.asked.length > 0, 'the first status counted the 50 beyond the window, and the demo asked')
    } finally {
      await socket.close()
    }
  })
})
