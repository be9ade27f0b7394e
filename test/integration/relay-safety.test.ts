/**
 * What a node relays, to where, how often and how much: real nodes, real sockets, real LevelDB, and
 * a local HTTP server on 127.0.0.1 standing in for a standard mediator (or for a service a forged DID
 * points at). Nodes here turn `relayPrivateDestinations` on or off explicitly.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { createPeerDid2 } from '../../didcomm/resolver.ts'
import { DIDCOMM_MESH_PROTOCOL, decodeStatus } from '../../node/wire.ts'
import type { StatusFrame } from '../../node/wire.ts'
import { BASIC, FORWARD, TestAgent, post, wrapForward } from '../helpers/client.ts'
import type { HttpAnswer, Plain } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const PROBLEM_REPORT = 'https://didcomm.org/report-problem/2.0/problem-report'

/** A local HTTP server counting the POSTs it gets, answering each with `status`. */
class Target {
  readonly bodies: string[] = []
  status = 202
  private readonly server: Server

  private constructor (server: Server) {
    this.server = server
    server.on('request', (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        this.bodies.push(Buffer.concat(chunks).toString('utf8'))
        res.writeHead(this.status, this.status === 302 ? { location: '/elsewhere' } : {}).end()
      })
    })
  }

  static async start (): Promise<Target> {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return new Target(server)
  }

  get port (): number {
    return (this.server.address() as AddressInfo).port
  }

  async stop (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise(resolve => this.server.close(resolve))
  }
}

/** A mediator DID (did:peer:2) whose only service is an HTTP endpoint: a standard mediator outside the mesh. */
function httpMediatorDid (uri: string): string {
  const raw = (pair: { publicKey: KeyObject }): Buffer => Buffer.from(String(pair.publicKey.export({ format: 'jwk' }).x), 'base64url')
  return createPeerDid2({ keyAgreement: [raw(generateKeyPairSync('x25519'))], authentication: [raw(generateKeyPairSync('ed25519'))], services: [{ uri, accept: ['didcomm/v2'] }] })
}

/** A client of `node` asks it to relay a fresh JWE (anoncrypted to `next`) to `next`; returns the answer and the forward's id. */
async function relayVia (node: TestNode, client: TestAgent, next: string, extra: Partial<Plain> = {}): Promise<{ answer: HttpAnswer, forwardId: string, inner: string }> {
  const inner = await client.pack(client.message(BASIC, { content: randomUUID() }, next), next, null)
  const forwardId = randomUUID()
  const forward: Plain = { id: forwardId, type: FORWARD, from: client.did, to: [node.did], body: { next }, attachments: [{ data: { json: JSON.parse(inner) } }], ...extra }
  return { answer: await post(node.url, await client.pack(forward, node.did, client.did)), forwardId, inner }
}

async function problemCode (client: TestAgent, answer: HttpAnswer): Promise<{ code: unknown, comment: unknown }> {
  const report = (await client.unpack(answer.text)).message
  assert.equal(report.type, PROBLEM_REPORT)
  return { code: report.body.code, comment: report.body.comment }
}

const settle = async (ms = 500): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('relay safety', () => {
  const nodes = testNodes()
  const targets: Target[] = []
  const target = async (): Promise<Target> => {
    const started = await Target.start()
    targets.push(started)
    return started
  }
  after(async () => {
    for (const t of targets) await t.stop()
    await nodes.stopAll()
  })

  async function clientOf (node: TestNode): Promise<TestAgent> {
    const client = new TestAgent()
    await client.mediate(node.url, node.did)
    return client
  }

  // Proves SSRF is closed by default: a DID naming http://127.0.0.1:<port>/ is refused on arrival
  // with a fixed code and comment (no URL), nothing is queued and the local server gets nothing.
  it('without the option, a relay to a mediator on 127.0.0.1 is refused and the server receives nothing', async () => {
    const local = await target()
    const node = await nodes.start({ relayPrivateDestinations: false })
    const client = await clientOf(node)
    const { answer } = await relayVia(node, client, httpMediatorDid(`http://127.0.0.1:${local.port}/`))
    assert.equal(answer.status, 403, answer.text)
    const { code, comment } = await problemCode(client, answer)
    assert.equal(code, 'e.p.req.destination-not-allowed')
    assert.doesNotMatch(String(comment), /127\.0\.0\.1|http|did:/)
    await settle()
    assert.equal(local.bodies.length, 0)
    assert.equal(node.node.info().mesh.outbox.depth, 0)
  })

  // Proves the address is checked where the socket connects: a host name (localhost) passes the
  // arrival check, but the node refuses to connect to what it resolves to and tells the client.
  it('without the option, a host name resolving to loopback is refused at connect time and reported', async () => {
    const local = await target()
    const node = await nodes.start({ relayPrivateDestinations: false })
    const client = await clientOf(node)
    const { answer, forwardId } = await relayVia(node, client, httpMediatorDid(`http://localhost:${local.port}/`))
    assert.equal(answer.status, 202, answer.text)
    const reports = await waitFor(async () => {
      const got = await client.pickup(node.url, node.did, { ack: true })
      return got.length > 0 ? got : undefined
    }, 10_000, 'the refusal in the client’s mailbox')
    assert.equal(reports[0]?.message.body.code, 'e.p.req.destination-not-allowed')
    assert.equal(reports[0]?.message.pthid, forwardId)
    assert.equal(local.bodies.length, 0)
    assert.equal(node.node.info().mesh.outbox.depth, 0)
  })

  // Proves the option opens private destinations: the same relay is delivered, the JWE byte for byte.
  it('with the option on, the relay to 127.0.0.1 is delivered', async () => {
    const local = await target()
    const node = await nodes.start({ relayPrivateDestinations: true })
    const client = await clientOf(node)
    const { answer, inner } = await relayVia(node, client, httpMediatorDid(`http://127.0.0.1:${local.port}/`))
    assert.equal(answer.status, 202, answer.text)
    await waitFor(() => local.bodies.length > 0 ? true : undefined, 10_000, 'the POST')
    assert.deepEqual(JSON.parse(local.bodies[0] as string), JSON.parse(inner))
    await waitFor(() => node.node.info().mesh.outbox.delivered === 1 ? true : undefined, 5_000, 'the delivery to count')
  })

  // Proves an anonymous libp2p peer can relay through a node only towards mesh peers, never make
  // it POST to an HTTP endpoint (even one the node may reach), and that its relays count against
  // its own quota (the peer ID is the origin).
  it('an anonymous libp2p peer relaying to an HTTP destination is refused; the server receives nothing', async () => {
    const local = await target()
    const node = await nodes.start({ relayPrivateDestinations: true, outboxMaxPerOrigin: 1 })
    const peer = await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
    try {
      const sendFrame = async (packed: string): Promise<StatusFrame> => {
        const stream = await peer.dialProtocol(multiaddr(node.info.multiaddrs[0] as string), DIDCOMM_MESH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
        const lp = lpStream(stream)
        await lp.write(new TextEncoder().encode(packed), { signal: AbortSignal.timeout(10_000) })
        const status = decodeStatus((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
        await stream.close()
        return status
      }
      const anonymous = new TestAgent()
      const next = httpMediatorDid(`http://127.0.0.1:${local.port}/`)
      const inner = await anonymous.pack(anonymous.message(BASIC, { content: 'via libp2p' }, next), next, null)
      const frame = await sendFrame(await wrapForward(anonymous, inner, next, node.did, null))
      assert.equal(frame.status, 'rejected')
      assert.equal(frame.code, 'e.p.req.relay-not-allowed')

      // Towards a mesh peer (down, so the message waits), the same anonymous peer is a later hop
      // of a multi-hop path: accepted, once; its second message is over its quota.
      const home = await nodes.start()
      const { pairwise } = await TestAgent.mediatedWallet(home)
      await home.stop()
      const towardsHome = async (content: string): Promise<StatusFrame> => {
        const forHome = await anonymous.pack(anonymous.message(BASIC, { content }, pairwise), pairwise, null, { forward: true })
        return await sendFrame(await wrapForward(anonymous, forHome, home.did, node.did, null))
      }
      const accepted = await towardsHome('mesh')
      assert.equal(accepted.status, 'accepted', JSON.stringify(accepted))
      const over = await towardsHome('mesh again')
      assert.equal(over.status, 'rejected')
      assert.equal(over.code, 'e.p.req.quota.origin')
    } finally {
      await peer.stop()
    }
    await settle()
    assert.equal(local.bodies.length, 0)
  })

  // Proves retries are capped: a target answering 503 gets exactly relayMaxAttempts POSTs, then the
  // entry is dropped and the client finds a problem report that names neither the status nor the URL.
  it('a 503 target receives exactly relayMaxAttempts POSTs; then the client gets a report without status or URL', async () => {
    const failing = await target()
    failing.status = 503
    const node = await nodes.start({ relayMaxAttempts: 3, relayMaxDelaySeconds: 1 })
    const client = await clientOf(node)
    const { answer, forwardId } = await relayVia(node, client, httpMediatorDid(`http://127.0.0.1:${failing.port}/`))
    assert.equal(answer.status, 202, answer.text)
    await waitFor(() => node.node.info().mesh.outbox.exhausted === 1 ? true : undefined, 15_000, 'the attempts to run out')
    const reports = await waitFor(async () => {
      const got = await client.pickup(node.url, node.did, { ack: true })
      return got.length > 0 ? got : undefined
    }, 10_000, 'the problem report')
    await settle(2_000)
    assert.equal(failing.bodies.length, 3)
    assert.equal(node.node.info().mesh.outbox.depth, 0)
    const report = reports[0]?.message as Plain
    assert.equal(report.type, PROBLEM_REPORT)
    assert.equal(report.body.code, 'e.p.xfer.undeliverable')
    assert.equal(report.pthid, forwardId)
    assert.doesNotMatch(JSON.stringify(report.body), new RegExp(`503|127\\.0\\.0\\.1|${failing.port}|http`))
  })

  // Proves a target's refusal is not echoed: a 404 (and a redirect, which is not followed) ends the
  // relay with a fixed code and comment.
  it('a 4xx or a redirect from the target is final and reported with fixed text', async () => {
    const refusing = await target()
    const node = await nodes.start()
    const client = await clientOf(node)
    for (const status of [404, 302]) {
      refusing.status = status
      const { answer } = await relayVia(node, client, httpMediatorDid(`http://127.0.0.1:${refusing.port}/`))
      assert.equal(answer.status, 202, answer.text)
      const reports = await waitFor(async () => {
        const got = await client.pickup(node.url, node.did, { ack: true })
        return got.length > 0 ? got : undefined
      }, 10_000, `the report for ${status}`)
      const body = reports[0]?.message.body ?? {}
      assert.equal(body.code, 'e.p.xfer.cant-use-endpoint')
      assert.doesNotMatch(JSON.stringify(body), new RegExp(`${status}|127\\.0\\.0\\.1|${refusing.port}|http`))
    }
    assert.equal(refusing.bodies.length, 2, 'one POST each, the redirect not followed')
  })

  // Proves only JWEs are stored or relayed: a forward carrying other text is refused with
  // e.p.msg.malformed, for a local recipient (nothing in the mailbox) and for a relay (nothing POSTed).
  it('a forward whose attachment is not a JWE is refused, for a local recipient and for a relay', async () => {
    const local = await target()
    const node = await nodes.start()
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    const client = await clientOf(node)
    const notJwe = Buffer.from('POST /admin HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n').toString('base64')
    for (const [next, from] of [[pairwise, null], [httpMediatorDid(`http://127.0.0.1:${local.port}/`), client.did]] as const) {
      const forward: Plain = { id: randomUUID(), type: FORWARD, to: [node.did], ...(from === null ? {} : { from }), body: { next }, attachments: [{ data: { base64: notJwe } }] }
      const answer = await post(node.url, await client.pack(forward, node.did, from))
      assert.equal(answer.status, 400, answer.text)
      const code = from === null ? (JSON.parse(answer.text) as Plain).body.code : (await problemCode(client, answer)).code
      assert.equal(code, 'e.p.msg.malformed')
    }
    assert.deepEqual(await wallet.pickup(node.url, node.did), [])
    await settle()
    assert.equal(local.bodies.length, 0)
    assert.equal(node.node.info().mesh.outbox.depth, 0)
  })

  // Proves the outbox quotas: per origin (429 e.p.req.quota.origin) and overall (507 e.p.req.quota.outbox).
  it('outbox quotas per origin and overall (messages and bytes) refuse further relays with their codes', async () => {
    const down = await target()
    const port = down.port
    await down.stop()
    targets.splice(targets.indexOf(down), 1)
    const node = await nodes.start({ outboxMaxPerOrigin: 2, outboxMaxMessages: 3 })
    const next = httpMediatorDid(`http://127.0.0.1:${port}/`)
    const [a, b, c] = [await clientOf(node), await clientOf(node), await clientOf(node)] as [TestAgent, TestAgent, TestAgent]
    for (let i = 0; i < 2; i++) assert.equal((await relayVia(node, a, next)).answer.status, 202)
    const perOrigin = (await relayVia(node, a, next)).answer
    assert.equal(perOrigin.status, 429, perOrigin.text)
    assert.equal((await problemCode(a, perOrigin)).code, 'e.p.req.quota.origin')
    assert.equal((await relayVia(node, b, next)).answer.status, 202)
    const overall = (await relayVia(node, c, next)).answer
    assert.equal(overall.status, 507, overall.text)
    assert.equal((await problemCode(c, overall)).code, 'e.p.req.quota.outbox')
    assert.equal(node.node.info().mesh.outbox.depth, 3)

    // Bytes in all: a relayed JWE here is ~1.5 KB, so 4,000 bytes hold two of them.
    const small = await nodes.start({ outboxMaxBytes: 4000 })
    const d = await clientOf(small)
    for (let i = 0; i < 2; i++) assert.equal((await relayVia(small, d, next)).answer.status, 202)
    const full = (await relayVia(small, d, next)).answer
    assert.equal(full.status, 507, full.text)
    assert.equal((await problemCode(d, full)).code, 'e.p.req.quota.outbox')
  })

  // Proves the outbox is read from disk, not memory: more messages than a hop's window wait across a
  // restart and all arrive once the target is up; and attempts survive the restart.
  // A hop whose whole in-memory window expired must go on to the messages behind it on disk.
  it('when a hop\'s whole window expires, the messages behind it are still delivered', async () => {
    const flaky = await target()
    flaky.status = 503
    const node = await nodes.start()
    const client = await clientOf(node)
    const next = httpMediatorDid(`http://127.0.0.1:${flaky.port}/`)
    const soon = Math.floor(Date.now() / 1000) + 2
    for (let i = 0; i < 16; i++) assert.equal((await relayVia(node, client, next, { expires_time: soon })).answer.status, 202)
    const later: string[] = []
    for (let i = 0; i < 4; i++) later.push((await relayVia(node, client, next)).inner)
    await waitFor(() => node.node.info().mesh.outbox.expired === 16 ? true : undefined, 10_000, 'the first window to expire')
    flaky.status = 202
    const ciphertexts = later.map(inner => (JSON.parse(inner) as { ciphertext: string }).ciphertext)
    await waitFor(() => ciphertexts.every(c => flaky.bodies.some(body => body.includes(c))) ? true : undefined, 20_000, 'the four behind it')
    await waitFor(() => node.node.info().mesh.outbox.depth === 0 ? true : undefined, 5_000, 'the outbox to empty')
  })

  it('a restart keeps waiting messages (more than a window) and their attempts', async () => {
    const later = await target()
    const port = later.port
    await later.stop()
    targets.splice(targets.indexOf(later), 1)
    let node = await nodes.start({ relayMaxDelaySeconds: 1 })
    const client = await clientOf(node)
    const next = httpMediatorDid(`http://127.0.0.1:${port}/`)
    for (let i = 0; i < 20; i++) assert.equal((await relayVia(node, client, next)).answer.status, 202)
    node = await node.restart()
    assert.equal(node.node.info().mesh.outbox.depth, 20)

    const up = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(202).end()) })
    await new Promise<void>(resolve => up.listen(port, '127.0.0.1', resolve))
    try {
      await waitFor(() => node.node.info().mesh.outbox.delivered === 20 ? true : undefined, 20_000, 'all 20 to arrive')
      assert.equal(node.node.info().mesh.outbox.depth, 0)
    } finally {
      up.closeAllConnections()
      await new Promise(resolve => up.close(resolve))
    }

    // Five tries (0.5 + 1 + 2 + 4 s apart at most), then a wait of 4–8 s: the restart falls in it,
    // tries again at once, and stops at seven in all, not at five more.
    const failing = await target()
    failing.status = 503
    let counted = await nodes.start({ relayMaxAttempts: 7, relayMaxDelaySeconds: 60 })
    const sender = await clientOf(counted)
    await relayVia(counted, sender, httpMediatorDid(`http://127.0.0.1:${failing.port}/`))
    await waitFor(() => failing.bodies.length === 5 ? true : undefined, 15_000, 'five attempts')
    counted = await counted.restart()
    await waitFor(() => counted.node.info().mesh.outbox.exhausted === 1 ? true : undefined, 10_000, 'the last attempt, after the restart')
    await settle(1_000)
    assert.equal(failing.bodies.length, 7)
  })
})
