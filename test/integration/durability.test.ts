import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { BASIC, PICKUP3, TestAgent, post } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { startTestNode, tempDir, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('durability: restarts, dedupe, expiry', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  // The node currently running (restart() replaces it); stopped after each test.
  let node: TestNode | undefined

  beforeEach(async () => {
    dir = await tempDir()
  })
  afterEach(async () => {
    await node?.stop()
    node = undefined
    await dir.remove()
  })

  const running = (): TestNode => {
    assert.ok(node !== undefined, 'node is running')
    return node
  }

  /** A mediated wallet with one pairwise DID on the running node. */
  const mediatedWallet = async (): Promise<{ wallet: TestAgent, pairwise: string }> => {
    const { url, did } = running()
    const wallet = new TestAgent()
    await wallet.mediate(url, did)
    return { wallet, pairwise: await wallet.pairwiseDid(url, did) }
  }

  const sendTo = async (pairwise: string, content: string): Promise<Plain> => {
    const business = new TestAgent()
    const sent = business.message(BASIC, { content }, pairwise)
    const answer = await business.sendVia(running().url, sent, pairwise, business.did)
    assert.equal(answer.status, 202, answer.text)
    return sent
  }

  const messageCount = async (wallet: TestAgent): Promise<unknown> => {
    const status = await wallet.request(running().url, running().did, `${PICKUP3}/status-request`, {})
    return status.body.message_count
  }

  // Proves a message acknowledged with 202 survives a restart, the node keeps its identity, and acknowledged messages stay deleted.
  it('an accepted message survives a restart; an acknowledged one stays gone', async () => {
    node = await startTestNode({ dataDir: dir.path })
    const { did, info } = node
    const { wallet, pairwise } = await mediatedWallet()
    const sent = await sendTo(pairwise, 'survive the restart')

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
    const later = await sendTo(pairwise, 'after two restarts')
    assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id), [later.id])
  })

  // Proves the receiver stores a given packed message once, so a sender's retry is harmless.
  it('posting the exact same packed forward twice stores it once', async () => {
    node = await startTestNode({ dataDir: dir.path })
    const { wallet, pairwise } = await mediatedWallet()
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
    node = await startTestNode({ dataDir: dir.path, messageLifetimeSeconds: 1 })
    const { wallet, pairwise } = await mediatedWallet()
    await sendTo(pairwise, 'expires soon')
    const queuedAt = Date.now()
    assert.equal(await messageCount(wallet), 1)

    // The message must be older than its 1 s lifetime before the node sweeps on its next start.
    await waitFor(() => Date.now() - queuedAt > 1_200 ? true : undefined, 5_000, 'the message to outlive its lifetime')
    node = await running().restart()
    await waitFor(async () => await messageCount(wallet) === 0 ? true : undefined, 10_000, 'the start-up sweep to delete the expired message')
    assert.deepEqual(await wallet.pickup(node.url, node.did), [])
  })
})
