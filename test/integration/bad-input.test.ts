import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BASIC, CM2, CM3, PICKUP3, PICKUP4, TestAgent, post } from '../helpers/client.ts'
import type { HttpAnswer, Plain } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const PROBLEM_REPORT = 'https://didcomm.org/report-problem/2.0/problem-report'
const TRUST_PING = 'https://didcomm.org/trust-ping/2.0'
const DISCOVER = 'https://didcomm.org/discover-features/2.0'
const MAX_MESSAGE_BYTES = 4096

/** A plaintext problem report body (the node could not tell who sent the input). */
function plainProblem (answer: HttpAnswer): Plain {
  assert.match(answer.contentType, /^application\/json/, answer.text)
  const report = JSON.parse(answer.text) as Plain
  assert.equal(report.type, PROBLEM_REPORT)
  return report
}

describe('bad input gets a clear 4xx and a problem report; the node keeps serving', () => {
  const nodes = testNodes()
  let node: TestNode
  // A second node with a small size limit, for the oversized-body test.
  let small: TestNode
  const agent = new TestAgent()

  before(async () => {
    node = await nodes.start()
    small = await nodes.start({ maxMessageBytes: MAX_MESSAGE_BYTES })
  })
  after(async () => { await nodes.stopAll() })

  /** The node still answers: a trust ping gets a ping-response on its thread. */
  const assertStillServing = async (target: TestNode = node): Promise<void> => {
    const ping = agent.message(`${TRUST_PING}/ping`, { response_requested: true }, target.did)
    const answer = await post(target.url, await agent.pack(ping, target.did))
    assert.equal(answer.status, 200, answer.text)
    const { message } = await agent.unpack(answer.text)
    assert.equal(message.type, `${TRUST_PING}/ping-response`)
    assert.equal(message.thid, ping.id)
    assert.equal(message.from, target.did)
  }

  // Proves bytes that are not JSON are refused with 400 e.p.msg.malformed.
  it('a body that is not JSON: 400', async () => {
    const answer = await post(node.url, 'this is {not json')
    assert.equal(answer.status, 400)
    assert.equal(plainProblem(answer).body.code, 'e.p.msg.malformed')
    await assertStillServing()
  })

  // Proves a DIDComm POST with a media type the node does not speak is refused with 415.
  it('content type text/plain: 415', async () => {
    const packed = await agent.pack(agent.message(`${TRUST_PING}/ping`, {}, node.did), node.did)
    const answer = await post(node.url, packed, 'text/plain')
    assert.equal(answer.status, 415)
    assert.equal(plainProblem(answer).body.code, 'e.p.msg.unsupported-media-type')
    await assertStillServing()
  })

  // Proves the configured size limit (advertised as max_receive_bytes) is enforced before parsing: 413 e.p.msg.too-big.
  it('a body over maxMessageBytes: 413', async () => {
    const constraint = await agent.request(small.url, small.did, `${DISCOVER}/queries`, {
      queries: [{ 'feature-type': 'constraint', match: 'max_receive_bytes' }]
    })
    assert.deepEqual(constraint.body.disclosures, [{ 'feature-type': 'constraint', id: 'max_receive_bytes', value: MAX_MESSAGE_BYTES }])

    const answer = await post(small.url, JSON.stringify({ padding: 'x'.repeat(10 * 1024) }))
    assert.equal(answer.status, 413)
    assert.equal(plainProblem(answer).body.code, 'e.p.msg.too-big')
    await assertStillServing(small)
  })

  // Proves a JWE the node holds no key for is refused as a crypto problem, not a crash.
  it('a JWE encrypted for another key: 400 e.p.trust.crypto', async () => {
    const someoneElse = new TestAgent()
    const packed = await agent.pack(agent.message(`${TRUST_PING}/ping`, {}, someoneElse.did), someoneElse.did)
    const answer = await post(node.url, packed)
    assert.equal(answer.status, 400)
    assert.match(String(plainProblem(answer).body.code), /^e\.p\.trust\.crypto/)
    await assertStillServing()
  })

  // Proves a JWE cut short (as bytes, or with its ciphertext shortened) is refused with 400.
  it('a truncated JWE: 400', async () => {
    const packed = await agent.pack(agent.message(`${TRUST_PING}/ping`, {}, node.did), node.did)
    const cut = await post(node.url, packed.slice(0, Math.floor(packed.length / 2)))
    assert.equal(cut.status, 400)
    assert.equal(plainProblem(cut).body.code, 'e.p.msg.malformed')

    const jwe = JSON.parse(packed) as { ciphertext: string }
    jwe.ciphertext = jwe.ciphertext.slice(0, Math.floor(jwe.ciphertext.length / 2))
    const shortened = await post(node.url, JSON.stringify(jwe))
    assert.equal(shortened.status, 400)
    assert.match(String(plainProblem(shortened).body.code), /^e\.p\.trust\.crypto/)
    await assertStillServing()
  })

  // Proves an unknown type from a known sender gets e.p.msg.unsupported encrypted back to that sender, on the request's thread.
  it('an unknown message type: e.p.msg.unsupported, encrypted to the sender', async () => {
    const request = agent.message('https://didcomm.org/no-such-protocol/1.0/thing', {}, node.did)
    const answer = await post(node.url, await agent.pack(request, node.did))
    assert.equal(answer.status, 400)
    assert.match(answer.contentType, /^application\/didcomm-encrypted\+json/)
    const { message, authenticated } = await agent.unpack(answer.text)
    assert.equal(authenticated, true, 'the report is authcrypted from the node')
    assert.equal(message.type, PROBLEM_REPORT)
    assert.equal(message.body.code, 'e.p.msg.unsupported')
    assert.equal(message.pthid, request.id)
    assert.equal(message.from, node.did)
    await assertStillServing()
  })

  // Proves type names that are properties of every JS object are not mistaken for handlers.
  it('message types named after Object.prototype members are unsupported', async () => {
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const request = agent.message(type, {}, node.did)
      const answer = await post(node.url, await agent.pack(request, node.did))
      assert.equal(answer.status, 400, `${type}: ${answer.text}`)
      const { message } = await agent.unpack(answer.text)
      assert.equal(message.body.code, 'e.p.msg.unsupported', type)
    }
    await assertStillServing()
  })

  // Proves a forward for a DID nobody registered is refused and not stored (registering it later finds nothing).
  // An anonymous poster may not relay, so the node refuses before it resolves the DID: 403, not 422.
  it('a forward to an unregistered DID from an anonymous poster: 403 relay-not-allowed, nothing stored', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const notYetRegistered = wallet.newDid(node.did)
    const business = new TestAgent()
    const answer = await business.sendVia(node.url, business.message(BASIC, { content: 'too early' }, notYetRegistered), notYetRegistered, business.did)
    assert.equal(answer.status, 403)
    // The forward layer is anoncrypted, so the node cannot encrypt its answer: plaintext.
    assert.equal(plainProblem(answer).body.code, 'e.p.req.relay-not-allowed')

    const update = await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: notYetRegistered, action: 'add' }] })
    assert.deepEqual(update.body.updated, [{ recipient_did: notYetRegistered, action: 'add', result: 'success' }])
    const status = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
    assert.equal(status.body.message_count, 0)
    await assertStillServing()
  })

  // Proves plaintext DIDComm is refused: this node accepts only encrypted messages.
  it('an unencrypted plaintext DIDComm message: 400 e.p.msg.unencrypted', async () => {
    const plaintext = { ...agent.message(`${TRUST_PING}/ping`, { response_requested: true }, node.did), typ: 'application/didcomm-plain+json' }
    const answer = await post(node.url, JSON.stringify(plaintext), 'application/json')
    assert.equal(answer.status, 400)
    const report = plainProblem(answer)
    assert.equal(report.body.code, 'e.p.msg.unencrypted')
    await assertStillServing()
  })

  // Proves discover-features discloses exactly the protocols the node implements, and nothing it does not.
  it('discover-features 2.0 discloses the implemented protocols and nothing else', async () => {
    const disclose = await agent.request(node.url, node.did, `${DISCOVER}/queries`, {
      queries: [{ 'feature-type': 'protocol', match: 'https://didcomm.org/*' }]
    })
    assert.equal(disclose.type, `${DISCOVER}/disclose`)
    const ids = (disclose.body.disclosures as Array<{ 'feature-type': string, id: string }>).map(d => {
      assert.equal(d['feature-type'], 'protocol')
      return d.id
    })
    for (const expected of ['https://didcomm.org/routing/2.0', CM2, CM3, PICKUP3, PICKUP4, TRUST_PING]) {
      assert.ok(ids.includes(expected), `discloses ${expected}`)
    }
    assert.ok(!ids.some(id => id.startsWith('https://didcomm.org/basicmessage')), 'no basicmessage')
    const implemented = new Set(['https://didcomm.org/routing/2.0', CM2, CM3, PICKUP3, PICKUP4, TRUST_PING, DISCOVER, 'https://didcomm.org/report-problem/2.0'])
    assert.deepEqual(ids.filter(id => !implemented.has(id)), [], 'nothing that does not exist')

    // A match with no glob is literal; a query for a protocol the node lacks discloses nothing.
    const none = await agent.request(node.url, node.did, `${DISCOVER}/queries`, {
      queries: [{ 'feature-type': 'protocol', match: 'https://didcomm.org/basicmessage/*' }]
    })
    assert.deepEqual(none.body.disclosures, [])
  })
})
