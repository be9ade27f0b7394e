import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CM2, CM3, PICKUP3, PICKUP4, TestAgent, post, sendTo } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const PROBLEM_REPORT = 'https://didcomm.org/report-problem/2.0/problem-report'

describe('authorization: a client reaches only its own recipients', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  /** Posts an authcrypted request and returns the HTTP status with the decrypted answer. */
  const ask = async (agent: TestAgent, type: string, body: Record<string, unknown>): Promise<{ status: number, request: Plain, reply: Plain }> => {
    const request = agent.message(type, body, node.did)
    const answer = await post(node.url, await agent.pack(request, node.did))
    return { status: answer.status, request, reply: (await agent.unpack(answer.text)).message }
  }

  for (const pickup of [PICKUP3, PICKUP4] as const) {
    // Proves another client cannot read a recipient it does not hold: 403 and a problem report on the request's thread.
    it(`pickup ${pickup.slice(-3)}: a second client cannot fetch the first's messages`, async () => {
      const first = await TestAgent.mediatedWallet(node)
      const second = await TestAgent.mediatedWallet(node)
      const sent = await sendTo(node, first.pairwise, 'private')

      const limit = pickup === PICKUP3 ? 'limit' : 'message_count_limit'
      const { status, request, reply } = await ask(second.wallet, `${pickup}/delivery-request`, { [limit]: 10, recipient_did: first.pairwise })
      assert.equal(status, 403)
      assert.equal(reply.type, PROBLEM_REPORT)
      assert.equal(reply.body.code, 'e.p.req.recipient-not-held')
      assert.equal(reply.pthid, request.id)
      assert.ok(!JSON.stringify(reply).includes('private'), 'the problem report carries nothing of the message')

      // Nor can it ask about the first's recipient's mailbox.
      const peek = await ask(second.wallet, `${pickup}/status-request`, { recipient_did: first.pairwise })
      assert.equal(peek.status, 403)
      assert.equal(peek.reply.body.code, 'e.p.req.recipient-not-held')

      // Without naming a recipient it sees only its own (empty) mailbox.
      assert.deepEqual(await second.wallet.pickup(node.url, node.did, { version: pickup }), [])
      const received = await first.wallet.pickup(node.url, node.did, { version: pickup, ack: true })
      assert.deepEqual(received.map(r => r.message.id), [sent.id])
    })
  }

  // Proves messages-received deletes only among the sender's own recipients: another client's ids are left in place.
  it('a second client cannot delete the first\'s messages', async () => {
    const first = await TestAgent.mediatedWallet(node)
    const second = await TestAgent.mediatedWallet(node)
    const sent = await sendTo(node, first.pairwise, 'keep me')
    const peeked = await first.wallet.pickup(node.url, node.did)
    const ids = peeked.map(r => r.id)
    assert.equal(ids.length, 1)

    const { status, reply } = await ask(second.wallet, `${PICKUP3}/messages-received`, { message_id_list: ids })
    assert.equal(status, 200)
    assert.equal(reply.type, `${PICKUP3}/status`)
    assert.equal(reply.body.message_count, 0, 'the second client\'s own mailbox')

    const still = await first.wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(still.map(r => r.id), ids)
    assert.equal(still[0]?.message.id, sent.id)
  })

  for (const [version, update, query, listField] of [[CM2, 'keylist-update', 'keylist-query', 'keys'], [CM3, 'recipient-update', 'recipient-query', 'dids']] as const) {
    // Proves a client cannot take over or remove a recipient another client holds (client_error, keylist untouched).
    it(`coordinate-mediation ${version.slice(-3)}: a second client cannot remove or claim the first's recipient`, async () => {
      const first = await TestAgent.mediatedWallet(node)
      const second = await TestAgent.mediatedWallet(node)

      const removed = await second.wallet.request(node.url, node.did, `${version}/${update}`, { updates: [{ recipient_did: first.pairwise, action: 'remove' }] })
      assert.deepEqual(removed.body.updated, [{ recipient_did: first.pairwise, action: 'remove', result: 'client_error' }])
      const claimed = await second.wallet.request(node.url, node.did, `${version}/${update}`, { updates: [{ recipient_did: first.pairwise, action: 'add' }] })
      assert.deepEqual(claimed.body.updated, [{ recipient_did: first.pairwise, action: 'add', result: 'client_error' }])

      const listed = await first.wallet.request(node.url, node.did, `${version}/${query}`, {})
      assert.deepEqual(listed.body[listField], [{ recipient_did: first.pairwise }])
      const others = await second.wallet.request(node.url, node.did, `${version}/${query}`, {})
      assert.deepEqual(others.body[listField], [{ recipient_did: second.pairwise }])

      // Mail for the first's recipient still reaches the first.
      const sent = await sendTo(node, first.pairwise, 'still mine')
      assert.deepEqual((await first.wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id), [sent.id])
    })
  }

  // Proves pickup requires a mediation: an authcrypted request from an unknown DID gets e.p.req.not-enrolled.
  it('pickup without mediation is refused with e.p.req.not-enrolled', async () => {
    const stranger = new TestAgent()
    for (const type of [`${PICKUP3}/status-request`, `${PICKUP3}/delivery-request`, `${PICKUP4}/messages-received`]) {
      const body = type.endsWith('delivery-request') ? { limit: 10 } : type.endsWith('messages-received') ? { message_id_list: [] } : {}
      const { status, request, reply } = await ask(stranger, type, body)
      assert.equal(status, 403, type)
      assert.equal(reply.type, PROBLEM_REPORT)
      assert.equal(reply.body.code, 'e.p.req.not-enrolled', type)
      assert.equal(reply.pthid, request.id)
    }
  })

  // Proves mediation needs an authenticated sender: an anoncrypted mediate-request is refused in plaintext (there is no one to encrypt to).
  it('an anoncrypted mediate-request is refused with a 4xx and a plaintext problem report', async () => {
    const anonymous = new TestAgent()
    const request = anonymous.message(`${CM3}/mediate-request`, {}, node.did)
    delete request.from
    const answer = await post(node.url, await anonymous.pack(request, node.did, null))
    assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`)
    assert.match(answer.contentType, /^application\/json/)
    const report = JSON.parse(answer.text) as Plain
    assert.equal(report.type, PROBLEM_REPORT)
    assert.match(String(report.body.code), /^e\.p\./)
    assert.equal(report.body.code, 'e.p.trust.crypto.unauthenticated')

    // And no mediation was granted: the same DID, now authenticated, is still not enrolled for pickup.
    const pickup = await ask(anonymous, `${PICKUP3}/status-request`, {})
    assert.equal(pickup.reply.body.code, 'e.p.req.not-enrolled')
  })
})
