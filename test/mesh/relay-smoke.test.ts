import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { BASIC, TestAgent } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'

const nodes = testNodes()
after(async () => { await nodes.stopAll() })

it('a business at node J reaches a wallet at node A through the mesh', async () => {
  const a = await nodes.start()
  const j = await nodes.start({ bootstrap: [a.info.multiaddrs[0]] })
  const { wallet, pairwise } = await TestAgent.mediatedWallet(a)
  const business = new TestAgent()
  await business.mediate(j.url, j.did)

  const msg = business.message(BASIC, { content: 'through the mesh' }, pairwise)
  const answer = await business.sendThrough(j, msg, pairwise, a.did)
  assert.equal(answer.status, 202, answer.text)

  const received = await waitFor(async () => {
    const got = await wallet.pickup(a.url, a.did, { ack: true })
    return got.length > 0 ? got : undefined
  }, 20_000, 'relayed message')
  assert.equal(received[0]?.message.id, msg.id)
  assert.deepEqual(received[0]?.message.body, { content: 'through the mesh' })
})
