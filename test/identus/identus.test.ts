/**
 * The real Identus wallet SDK (@hyperledger/identus-sdk 7.x, an edge agent in Node) against a real node.
 *
 * A receiving agent gets mediation from the node and a mediated peer DID; a second agent sends it basic
 * messages through the node; the receiver gets each exactly once with its content: by polling pickup,
 * and in live mode over the WebSocket. What in the node each step leans on (DESIGN.md §4a):
 *
 * - `Agent.start()` with `mediatorDID` resolves the node's did:peer:2, which must use the abbreviated
 *   service form `{"t":"dm","s":{"uri","a"}}` (the only one the SDK's Castor decodes), and POSTs
 *   coordinate-mediation **2.0** mediate-request to the *first* DIDCommMessaging service: the node lists
 *   http first. The grant must come back **in the HTTP body** as a JWE JSON object (the SDK's FetchApi
 *   JSON-parses the body and unpacks it; after an empty 202 the request is never granted) and carry
 *   `routing_did` as a **string** (`MediateGrant` stores it as one DID).
 * - The mediator and the pairwise DIDs are did:peer:2 with service `a: []` and keys `#key-1`, `#key-2`
 *   in element order: the node must resolve them to encrypt to the agent.
 * - `createNewPeerDID([], true)` sends keylist-update **without return_route** and with the node's DID
 *   (not the routing DID) as the new DID's service endpoint; the node must register the DID before it
 *   answers, since the agent hands the DID out as soon as the POST returns.
 * - The sender's `sendMessage` resolves the recipient, sees a DID as its service endpoint and wraps the
 *   message in a routing 2.0 forward **authcrypted from the sender's own peer DID** (not anoncrypt),
 *   attachment `data.json`, POSTed to the node's first (http) service: the node must accept authcrypted
 *   forwards from a DID it does not mediate, and queue for the mediated recipient.
 * - Polling: `startFetchingMessages(ms)` posts pickup 3.0 `delivery-request {limit:10}` **without
 *   recipient_did** on a timer; with nothing queued the node answers a `status` (which the SDK ignores),
 *   otherwise a `delivery` in the HTTP body, whose attachments the SDK decodes (base64url, falling back
 *   to standard padded base64) and unpacks; it then POSTs `messages-received`, and the node must drop
 *   those messages so the next poll does not deliver them again.
 * - Live mode (`options.experiments.liveMode`): the agent opens Node's global WebSocket (no Origin
 *   header) on the *first ws* service of the node's DID, sends `live-delivery-change` as a **text**
 *   frame from its mediation DID, and hands every frame's `data` to its unpack: a binary frame arrives as
 *   a Blob and is lost, so the node must answer with **text** frames on such sockets. The node binds the
 *   socket to the client DID and pushes for every recipient it holds, including the pairwise DID added
 *   by keylist-update after the socket went live. Acknowledgements (`messages-received`) still go over
 *   **HTTP**, so the node must match them to the socket's in-flight pushes and not push them again.
 * - Stopping: the SDK's fetch keeps each connection alive for the 72 s the node advertises; a poll
 *   under way when the node stops must not hold node.stop() for that long.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Agent, Apollo, ApiImpl, Connection, ListenerKey, Pluto } from '@hyperledger/identus-sdk'
import type { Domain } from '@hyperledger/identus-sdk'
import { BasicMessage } from '@hyperledger/identus-sdk/plugins/didcomm'
import { startTestNode, tempDir, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'
import { MemoryStore } from './memory-store.ts'

const BASIC = 'https://didcomm.org/basicmessage/2.0/message'
const POLL_MS = 200
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Each HTTP exchange an agent made, as its FetchApi saw it. */
interface Exchange { url: string, status: number, body: 'object' | 'empty' | 'other' }

/** The SDK's own fetch-based Api, recording what each POST got back. */
class RecordingApi extends ApiImpl {
  readonly exchanges: Exchange[] = []
  override async request<T> (...args: Parameters<ApiImpl['request']>): Promise<Domain.ApiResponse<T>> {
    const [, url] = args
    try {
      const response = await super.request<T>(...args)
      const body = response.body as unknown
      this.exchanges.push({ url, status: response.httpStatus, body: typeof body === 'object' && body !== null ? 'object' : body === '' ? 'empty' : 'other' })
      return response
    } catch (err) {
      this.exchanges.push({ url, status: (err as { status?: number }).status ?? -1, body: 'other' })
      throw err
    }
  }
}

/**
 * Node ≥ 22 has a global WebSocket (the one the SDK opens in live mode); no other global is needed (Node
 * 24 has fetch, crypto, Blob, TextEncoder). This subclass, installed as the global for the live test,
 * only records what the SDK's socket saw: which URL it opened, and whether each frame came as text.
 */
const NodeWebSocket = globalThis.WebSocket
interface SocketLog { url: string, frames: Array<'text' | 'binary'>, opened: boolean }
const sockets: SocketLog[] = []
class RecordingWebSocket extends NodeWebSocket {
  constructor (url: string | URL, protocols?: ConstructorParameters<typeof NodeWebSocket>[1]) {
    super(url, protocols)
    const log: SocketLog = { url: String(url), frames: [], opened: false }
    sockets.push(log)
    this.addEventListener('open', () => { log.opened = true })
    this.addEventListener('message', event => { log.frames.push(typeof event.data === 'string' ? 'text' : 'binary') })
  }
}

interface Wallet {
  agent: Agent
  api: RecordingApi
  store: MemoryStore
  /** Every basic message the agent's MESSAGE event delivered, in order. */
  received: Domain.Message[]
}

function wallet (mediatorDID?: string, liveMode = false): Wallet {
  const apollo = new Apollo()
  const store = new MemoryStore()
  const api = new RecordingApi()
  const agent = Agent.initialize({
    apollo,
    api,
    pluto: new Pluto(store, apollo),
    ...(mediatorDID === undefined ? {} : { mediatorDID }),
    options: { experiments: { liveMode } }
  })
  const received: Domain.Message[] = []
  agent.addListener(ListenerKey.MESSAGE, messages => {
    for (const m of messages) if (m.piuri === BASIC) received.push(m)
  })
  return { agent, api, store, received }
}

/** Sends `count` basic messages from `sender` to `to`; returns their ids and contents. */
async function sendBasic (sender: Wallet, from: Domain.DID, to: Domain.DID, label: string, count: number): Promise<Map<string, string>> {
  const sent = new Map<string, string>()
  for (let i = 0; i < count; i++) {
    const content = `${label} #${i} ${'ü'.repeat(i)}`
    const message = new BasicMessage({ content }, from, to).makeMessage()
    await sender.agent.sendMessage(message)
    sent.set(message.id, content)
  }
  return sent
}

/** Waits for every sent message, lets the agent keep fetching a while, then checks each came once, intact. */
async function assertReceivedOnce (receiver: Wallet, sent: Map<string, string>, from: Domain.DID, to: Domain.DID, settleMs: number): Promise<void> {
  await waitFor(() => [...sent.keys()].every(id => receiver.received.some(m => m.id === id)) ? true : undefined, 20_000,
    `all ${sent.size} basic messages (got ${receiver.received.length})`)
  await sleep(settleMs)
  const ids = receiver.received.map(m => m.id)
  assert.deepEqual([...ids].sort(), [...sent.keys()].sort(), 'each message exactly once, and no other')
  for (const m of receiver.received) {
    assert.deepEqual(m.body, { content: sent.get(m.id) })
    assert.equal(m.from?.toString(), from.toString())
    assert.equal(m.to?.toString(), to.toString())
  }
}

describe('Identus SDK 7.x edge agents through the node', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let node: TestNode
  let sender: Wallet
  let senderDid: Domain.DID
  const started: Wallet[] = []

  before(async () => {
    dir = await tempDir()
    node = await startTestNode({ dataDir: dir.path })
    // The sender has no mediator: its DID has no service, and it only POSTs forwards to the node.
    sender = wallet()
    await sender.agent.start()
    started.push(sender)
    senderDid = await sender.agent.createNewPeerDID([], false)
  })

  after(async () => {
    for (const w of started) {
      w.agent.stopFetchingMessages()
      await w.agent.stop().catch(() => {})
    }
    globalThis.WebSocket = NodeWebSocket
    await node.stop()
    await dir.remove()
  })

  /** The grant came back in the HTTP body and its string routing_did was stored (MediateGrant ran). */
  async function assertMediated (receiver: Wallet): Promise<void> {
    const mediator = receiver.agent.connections.mediator
    assert.ok(mediator, 'the agent has a mediator connection')
    assert.equal(mediator.uri, node.did)
    assert.equal(mediator.state, Connection.State.GRANTED)
    assert.equal(mediator.routingDID, node.did)
    const stored = await receiver.agent.pluto.getAllMediators()
    assert.equal(stored.length, 1)
    assert.equal(stored[0]?.routingDID.toString(), node.did)
    assert.equal(stored[0]?.hostDID.toString(), mediator.host)
  }

  it('polling pickup: mediation, keylist-update, forwards from a second agent, each message delivered once', { timeout: 60_000 }, async () => {
    const receiver = wallet(node.did)
    await receiver.agent.start()
    started.push(receiver)
    await assertMediated(receiver)
    // start() began polling every 5 s; poll faster for the test.
    receiver.agent.stopFetchingMessages()
    await receiver.agent.startFetchingMessages(POLL_MS)

    const pairwise = await receiver.agent.createNewPeerDID([], true)
    const sent = await sendBasic(sender, senderDid, pairwise, 'polled', 5)
    // Several more polls after the last arrival: acknowledged messages must not come back.
    await assertReceivedOnce(receiver, sent, senderDid, pairwise, POLL_MS * 5)

    // Every exchange went to the node's first (http) service; every request but forwards got a JWE
    // object in the body (mediate-request, keylist-update, delivery-request, messages-received).
    for (const e of receiver.api.exchanges) {
      assert.equal(e.url, node.url)
      assert.deepEqual({ status: e.status, body: e.body }, { status: 200, body: 'object' })
    }
    // Forwards go to the same service, as a URL object (hence the trailing slash), and get a 202.
    for (const e of sender.api.exchanges) {
      assert.equal(e.url, new URL(node.url).href)
      assert.equal(e.status, 202)
    }
    assert.equal(sender.api.exchanges.length, 5)
  })

  // Identus polls over fetch, which keeps the connection alive for the 72 s the node advertises. A poll
  // under way when the node stops used to hold node.stop() ~70 s (the server waits for every socket).
  // Deterministic stand-in for that poll: the same fetch, its body held back until the stop has begun.
  it('stopping the node while a wallet request is under way ends that connection instead of waiting out keep-alive', { timeout: 30_000 }, async () => {
    const ownDir = await tempDir()
    const own = await startTestNode({ dataDir: ownDir.path })
    try {
      const encoder = new TextEncoder()
      let controller!: ReadableStreamDefaultController<Uint8Array>
      const body = new ReadableStream<Uint8Array>({ start (c) { controller = c } })
      const answer = fetch(own.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body, duplex: 'half' } as RequestInit)
      controller.enqueue(encoder.encode('{"protected":'))
      await sleep(200)
      const began = Date.now()
      const stopping = own.stop()
      await sleep(200)
      controller.enqueue(encoder.encode('"x"}'))
      controller.close()
      const response = await answer
      await response.text()
      assert.equal(response.headers.get('connection'), 'close')
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error('node.stop() still waits for the kept-alive connection after 10 s')) }, 10_000)
      })
      try {
        await Promise.race([stopping, late])
      } finally {
        clearTimeout(timer)
      }
      assert.ok(Date.now() - began < 10_000)
    } finally {
      await own.stop().catch(() => {})
      await ownDir.remove()
    }
  })

  it('live mode: the agent goes live over the WebSocket and gets pushes as text frames, each once', { timeout: 60_000 }, async () => {
    globalThis.WebSocket = RecordingWebSocket
    const receiver = wallet(node.did, true)
    await receiver.agent.start()
    started.push(receiver)
    await assertMediated(receiver)
    assert.equal(receiver.agent.connections.mediator?.liveMode, true, 'the SDK chose live mode')

    // The SDK opened the first ws service and sent live-delivery-change; the node's status reply
    // on the socket shows the socket is live before any message is sent.
    const socket = await waitFor(() => sockets.find(s => s.frames.length > 0), 10_000, 'the status reply on the live socket')
    assert.equal(socket.url, node.wsUrl)
    assert.equal(sockets.length, 1)

    // The pairwise DID is added after the socket went live: pushes must cover it too.
    const pairwise = await receiver.agent.createNewPeerDID([], true)
    const postsBefore = receiver.api.exchanges.length
    const sent = await sendBasic(sender, senderDid, pairwise, 'live', 5)
    await assertReceivedOnce(receiver, sent, senderDid, pairwise, 1_000)

    // Every frame was text (a binary frame would have reached the SDK's unpack as a Blob and been lost).
    assert.deepEqual(new Set(socket.frames), new Set(['text']))
    // Frames: the status, then pushed deliveries. The agent never polled (no fetch job in live mode);
    // it acknowledged each delivery with one messages-received over HTTP, answered in the body.
    assert.equal(receiver.agent.jobs.fetchMessages, undefined)
    assert.ok(socket.frames.length >= 2)
    const acks = receiver.api.exchanges.slice(postsBefore)
    assert.equal(acks.length, socket.frames.length - 1, 'one messages-received per pushed delivery')
    for (const e of acks) assert.deepEqual(e, { url: node.url, status: 200, body: 'object' })
  })
})
