import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { MeshAgent } from '../../client/index.ts'
import { testNodes, waitFor } from '../helpers/node.ts'

const nodes = testNodes()
after(async () => { await nodes.stopAll() })

it('business and customer on different nodes: invite, accept, send both ways', async () => {
  const n1 = await nodes.start()
  const n2 = await nodes.start({ bootstrap: [n1.info.multiaddrs[0]] })

  // Two nodes offer no mix between them: the agents go without mix hops (they would refuse to send with them).
  const business = await MeshAgent.open(await nodes.dir(), { mixHops: 0 })
  await business.connect(n1.node.invitation().url)
  const customer = await MeshAgent.open(await nodes.dir(), { mixHops: 0 })
  await customer.connect(n2.did)

  const offer = await business.createInvitation({ label: 'Acme' })
  const contact = await customer.acceptInvitation(offer.url, { label: 'Alice' })
  assert.equal(contact.name, 'Acme')

  const greeting = await waitFor(async () => (await business.pickup()).find(m => m.contact !== undefined), 20_000, 'acceptance ping')
  assert.equal(greeting.contact?.name, 'Alice')

  await business.send('Alice', 'hello from Acme')
  const got = await waitFor(async () => (await customer.pickup()).find(m => m.type.endsWith('basicmessage/2.0/message')), 20_000, 'basic message')
  assert.equal(got.body.content, 'hello from Acme')
  assert.equal(got.contact?.name, 'Acme')

  await customer.send('Acme', 'hi back')
  const reply = await waitFor(async () => (await business.pickup()).find(m => m.type.endsWith('basicmessage/2.0/message')), 20_000, 'reply')
  assert.equal(reply.body.content, 'hi back')
})
