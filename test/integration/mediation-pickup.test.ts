import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BASIC, CM2, CM3, PICKUP3, PICKUP4, TestAgent } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('one node over HTTP: mediation, forward, pickup', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  for (const [version, grantShape] of [[CM2, 'string'], [CM3, 'array']] as const) {
    it(`coordinate-mediation ${version.slice(-3)}: grant, keylist add/query/remove`, async () => {
      const wallet = new TestAgent()
      const grant = await wallet.mediate(node.url, node.did, version)
      assert.equal(grant.type, `${version}/mediate-grant`)
      assert.equal(grant.from, node.did)
      assert.equal(grant.thid !== undefined, true)
      const routing = grant.body.routing_did
      assert.equal(grantShape === 'string' ? routing : (routing as string[])[0], node.did)

      const did = await wallet.pairwiseDid(node.url, node.did, version)
      const query = version === CM2 ? 'keylist-query' : 'recipient-query'
      const listed = await wallet.request(node.url, node.did, `${version}/${query}`, { paginate: { limit: 10, offset: 0 } })
      const entries = (listed.body[version === CM2 ? 'keys' : 'dids'] as Array<{ recipient_did: string }>)
      assert.deepEqual(entries.map(e => e.recipient_did), [did])

      const update = version === CM2 ? 'keylist-update' : 'recipient-update'
      const removed = await wallet.request(node.url, node.did, `${version}/${update}`, { updates: [{ recipient_did: did, action: 'remove' }] })
      assert.deepEqual(removed.body.updated, [{ recipient_did: did, action: 'remove', result: 'success' }])
      const again = await wallet.request(node.url, node.did, `${version}/${query}`, {})
      assert.deepEqual(again.body[version === CM2 ? 'keys' : 'dids'], [])
    })
  }

  for (const pickup of [PICKUP3, PICKUP4] as const) {
    it(`pickup ${pickup.slice(-3)}: a forwarded message is queued, delivered, acknowledged`, async () => {
      const wallet = new TestAgent()
      await wallet.mediate(node.url, node.did)
      const pairwise = await wallet.pairwiseDid(node.url, node.did)
      const business = new TestAgent()
      const sent = business.message(BASIC, { content: 'hello ' + pickup }, pairwise)
      const answer = await business.sendVia(node.url, sent, pairwise, business.did)
      assert.equal(answer.status, 202, answer.text)

      const status = await wallet.request(node.url, node.did, `${pickup}/status-request`, {})
      assert.equal(status.type, `${pickup}/status`)
      assert.equal(status.body.message_count, 1)
      assert.ok((status.body.total_bytes as number) > 0)

      const received = await wallet.pickup(node.url, node.did, { version: pickup, ack: true })
      assert.equal(received.length, 1)
      assert.equal(received[0]?.message.id, sent.id)
      assert.deepEqual(received[0]?.message.body, { content: 'hello ' + pickup })

      const after = await wallet.request(node.url, node.did, `${pickup}/status-request`, {})
      assert.equal(after.body.message_count, 0)
    })
  }
})
