import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { adminToken } from '../../node/admin.ts'
import { loadOrCreateNodeKeys } from '../../storage/node-key-file.ts'
import { PICKUP3, TestAgent, post } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('admin API', () => {
  const nodes = testNodes()
  let node: TestNode
  let auth: Record<string, string>

  before(async () => {
    node = await nodes.start()
    auth = { authorization: `Bearer ${adminToken(await loadOrCreateNodeKeys(node.config.dataDir))}` }
  })
  after(async () => { await nodes.stopAll() })

  // Proves a revoke ends the client's live WebSocket (1008), so it stops receiving at once.
  it('revoke closes the client\'s live socket', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const socket = new WebSocket(node.wsUrl)
    await once(socket, 'open')
    socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did), node.did))
    await once(socket, 'message') // the status: live now
    const closed = once(socket, 'close')

    const revoked = await post(`${node.url}/admin/clients/revoke`, JSON.stringify({ did: wallet.did }), 'application/json', auth)
    assert.equal(revoked.status, 200, revoked.text)
    assert.deepEqual(JSON.parse(revoked.text), { did: wallet.did, recipients: 1, messages: 0 })
    const [code] = await closed as [number]
    assert.equal(code, 1008)
  })

  // Proves bad input is a 400 that names the field, and an unknown client a 404 without the DID.
  it('revoke: 400 for a body without a DID, 404 for a DID without mediation', async () => {
    const bad = await post(`${node.url}/admin/clients/revoke`, '{"did": 5}', 'application/json', auth)
    assert.equal(bad.status, 400)
    assert.match(bad.text, /body\.did must be a DID/)
    const unknown = await post(`${node.url}/admin/clients/revoke`, JSON.stringify({ did: 'did:example:nobody' }), 'application/json', auth)
    assert.equal(unknown.status, 404)
    assert.doesNotMatch(unknown.text, /did:example/)
    const limit = await fetch(`${node.url}/admin/clients?limit=0`, { headers: auth })
    assert.equal(limit.status, 400)
  })
})
