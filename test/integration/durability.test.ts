import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { BASIC, PICKUP3, TestAgent, post, sendTo } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('durability: restarts, dedupe, expiry', () => {
  const nodes = testNodes()
  // The node currently running (restart() replaces it); stopped after each test.
  let node: TestNode | undefined

  afterEach(async () => {
    node = undefined
    await nodes.stopAll()
  })

  const running = (): TestNode => {
    assert.ok(node !== undefined, 'node is running')
    return node
  }

  const messageCount = async (wallet: TestAgent): Promise<unknown> => {
    const status = await wallet.request(running().url, running().did, `${PICKUP3}/status-request`, {})
    return status.body.message_count
  }

  // Proves a message acknowledged with 202 survives a restart, the node keeps its identity, and acknowledged messages stay deleted.
  it('an accepted message survives a restart; an acknowledged one stays gone', async () => {
    node = await nodes.start()
    const { did, info } = node
    const { wallet, pairwise } = await TestAgent.mediatedWallet(running())
    const sent = await sendTo(running(), pairwise, 'survive the restart')

    node = await running().restart()
    assert.equal(node.did, did, 'the mediator DID is unchanged')
    assert.equal(node.info.peerId, info.peerId, 'the libp2p peer ID is unchanged')

    // Mediation and keylist survived too: the same wallet picks up without asking again.
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.equal(received.length, 1)
    assert.equal(received[0]?.message.id, sent.id)
    assert.deepEqual(received[0]?.message.body, { content: 'survive the restart' })
    assert.equal(await messageCount(wallet), 0)

    node = await running().restart()
    assert.equal(await messageCount(wallet), 0, 'an acknowledged message does not come back after a restart')
    assert.deepEqual(await wallet.pickup(node.url, node.did), [])

    // The keylist is still there: new mail for the pairwise DID is accepted after two restarts.
    const later = await sendTo(running(), pairwise, 'after two restarts')
    assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id), [later.id])
  })

  // Proves the receiver stores a given packed message once, so a sender's retry is harmless.
  it('posting the exact same packed forward twice stores it once', async () => {
    node = await nodes.start()
    const { wallet, pairwise } = await TestAgent.mediatedWallet(running())
    const business = new TestAgent()
    const sent = business.message(BASIC, { content: 'only once' }, pairwise)
    const packed = await business.pack(sent, pairwise, business.did, { forward: true, protect_sender: true })

    const first = await post(node.url, packed)
    const retry = await post(node.url, packed)
    assert.equal(first.status, 202, first.text)
    assert.equal(retry.status, 202, 'a retry is acknowledged like the original')

    assert.equal(await messageCount(wallet), 1)
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(received.map(r => r.message.id), [sent.id])
    assert.equal(await messageCount(wallet), 0)

    // A retry racing its original (both in flight at once) is also stored once.
    const racing = business.message(BASIC, { content: 'raced' }, pairwise)
    const racingPacked = await business.pack(racing, pairwise, business.did, { forward: true, protect_sender: true })
    const answers = await Promise.all([post(node.url, racingPacked), post(node.url, racingPacked)])
    assert.deepEqual(answers.map(a => a.status), [202, 202])
    assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id), [racing.id])
  })

  // Proves the sweep deletes messages older than messageLifetimeSeconds (it runs on start, so a restart triggers it).
  it('a message older than the lifetime is swept', async () => {
    node = await nodes.start({ messageLifetimeSeconds: 1 })
    const { wallet, pairwise } = await TestAgent.mediatedWallet(running())
    await sendTo(running(), pairwise, 'expires soon')
    const queuedAt = Date.now()
    assert.equal(await messageCount(wallet), 1)

    // The message must be older than its 1 s lifetime before the node sweeps on its next start.
    await waitFor(() => Date.now() - queuedAt > 1_200 ? true : undefined, 5_000, 'the message to outlive its lifetime')
    node = await running().restart()
    await waitFor(async () => await messageCount(wallet) === 0 ? true : undefined, 10_000, 'the start-up sweep to delete the expired message')
    assert.deepEqual(await wallet.pickup(node.url, node.did), [])
  })
})
