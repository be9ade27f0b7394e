import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { BASIC, FORWARD, TestAgent, post } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode } from '../helpers/node.ts'
import { pickupAll, receive } from './helpers.ts'

const PROBLEM_REPORT = 'https://didcomm.org/report-problem/2.0/problem-report'

/**
 * Store-and-forward: a relay to a home node that is down waits in the sending node's durable
 * outbox, is delivered when the home node is back, and is answered with a problem report in the
 * sender's own mailbox when it expires first. B is the bootstrap node; nobody bootstraps to A.
 */
describe('store and forward', () => {
  const cluster = testNodes('didcomm-mesh-mesh-', { logs: true })
  let b: LoggedTestNode
  let a: LoggedTestNode
  let j: LoggedTestNode
  const wallet = new TestAgent()
  const business = new TestAgent()
  let walletPairwise: string

  before(async () => {
    b = await cluster.start()
    const bootstrap = [b.info.multiaddrs[0]]
    a = await cluster.start({ bootstrap })
    j = await cluster.start({ bootstrap })
    await wallet.mediate(a.url, a.did)
    walletPairwise = await wallet.pairwiseDid(a.url, a.did)
    await business.mediate(j.url, j.did)
  })
  after(async () => { await cluster.stopAll() })

  /** The business's message for the wallet, wrapped for A and then in a forward (with a known id) for `via`. */
  async function forwardVia (via: LoggedTestNode, sender: TestAgent, content: string, next = a.did): Promise<{ msg: Plain, forwardId: string, packed: string }> {
    const msg = sender.message(BASIC, { content }, walletPairwise)
    const forA = await sender.pack(msg, walletPairwise, sender.did, { forward: true, protect_sender: true })
    const forwardId = randomUUID()
    const forward: Plain = { id: forwardId, type: FORWARD, from: sender.did, to: [via.did], body: { next }, attachments: [{ data: { json: JSON.parse(forA) } }] }
    return { msg, forwardId, packed: await sender.pack(forward, via.did, sender.did) }
  }

  it('a forward to a mediator DID that nothing can route to is refused with 422 and nothing is queued', async () => {
    const unroutable = [new TestAgent().did, 'did:example:no-such-mediator']
    for (const next of unroutable) {
      const { packed } = await forwardVia(j, business, 'nowhere', next)
      const answer = await post(j.url, packed)
      assert.equal(answer.status, 422, `${next}: ${answer.text}`)
      const report = (await business.unpack(answer.text)).message
      assert.equal(report.type, PROBLEM_REPORT)
      assert.equal(report.body.code, 'e.p.req.unknown-recipient')
    }
    assert.equal(j.node.info().mesh.outbox.depth, 0)
    assert.equal(j.node.info().mesh.outbox.retries, 0)
  })

  it('while A is down the message waits in J’s outbox, and arrives once A restarts, with no new send', async () => {
    await a.stop()
    const { msg, packed } = await forwardVia(j, business, 'stored, then forwarded')
    const answer = await post(j.url, packed)
    assert.equal(answer.status, 202, answer.text)
    assert.equal(j.node.info().mesh.outbox.depth, 1, 'durably queued before the 202')
    await waitFor(() => j.node.info().mesh.outbox.retries >= 2 ? true : undefined, 15_000, 'J to retry the relay')
    assert.equal(j.node.info().mesh.outbox.depth, 1)
    assert.equal(j.node.info().mesh.outbox.delivered, 0)

    a = await a.restart()
    const got = await receive(wallet, a, msg.id)
    assert.deepEqual(got.message.body, { content: 'stored, then forwarded' })
    assert.equal(got.authenticated, true)
    // A has the message (the wallet just took it) a moment before J has settled A's acknowledgement.
    await waitFor(() => j.node.info().mesh.outbox.depth === 0 ? true : undefined, 5_000, 'J to settle the relay')
    const { outbox } = j.node.info().mesh
    assert.equal(outbox.delivered, 1)
    assert.equal(outbox.expired, 0)
  })

  it('a message that expires in the outbox is dropped and reported in the business’s own mailbox', async () => {
    const shortLived = await cluster.start({ bootstrap: [b.info.multiaddrs[0]], messageLifetimeSeconds: 2 })
    const sender = new TestAgent()
    await sender.mediate(shortLived.url, shortLived.did)
    await a.stop()

    const { forwardId, packed } = await forwardVia(shortLived, sender, 'too late')
    const answer = await post(shortLived.url, packed)
    assert.equal(answer.status, 202, answer.text)
    assert.equal(shortLived.node.info().mesh.outbox.depth, 1)
    await waitFor(() => shortLived.node.info().mesh.outbox.expired === 1 ? true : undefined, 10_000, 'the relay to expire')
    const { outbox } = shortLived.node.info().mesh
    assert.equal(outbox.depth, 0)
    assert.equal(outbox.delivered, 0)

    const reports = await waitFor(async () => {
      const got = await pickupAll(sender, shortLived)
      return got.length > 0 ? got : undefined
    }, 10_000, 'the problem report in the sender’s mailbox')
    assert.equal(reports.length, 1)
    const report = reports[0]?.message as Plain
    assert.equal(report.type, PROBLEM_REPORT)
    assert.match(String(report.body.code), /^e\.p\.xfer/)
    assert.equal(report.pthid, forwardId, 'the report names the failed forward')
    assert.equal(report.from, shortLived.did)
    assert.equal(reports[0]?.authenticated, true)
  })
})
