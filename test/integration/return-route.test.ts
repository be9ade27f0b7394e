/**
 * `return_route: "none"`: the request is answered 202 with an empty body, and the reply travels the
 * way any message to the sender would: into its mailbox when it is a client of this node, else to
 * the endpoint its DID names, through the outbox and the relay's destination rules. Without
 * return_route (or with "all") the reply stays in the HTTP body, as clients rely on.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { CM3, PICKUP3, TestAgent, post } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestNode } from '../helpers/node.ts'

const PING = 'https://didcomm.org/trust-ping/2.0/ping'
const PING_RESPONSE = 'https://didcomm.org/trust-ping/2.0/ping-response'

/** An HTTP endpoint on 127.0.0.1 that keeps every body POSTed to it. */
async function endpoint (): Promise<{ url: string, bodies: string[], close: () => Promise<void> }> {
  const bodies: string[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'))
      response.writeHead(202).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/inbox`,
    bodies,
    close: async () => { await new Promise(resolve => server.close(resolve)) }
  }
}

async function ping (agent: TestAgent, node: TestNode, from: string, extra: Record<string, unknown>): Promise<{ status: number, text: string, id: string }> {
  const message = { ...agent.message(PING, { response_requested: true }, node.did, extra), from }
  const answer = await post(node.url, await agent.pack(message, node.did, from))
  return { status: answer.status, text: answer.text, id: message.id }
}

describe('return_route', () => {
  const nodes = testNodes()
  let node: TestNode
  let strict: TestNode
  let closed: TestNode

  before(async () => {
    // Replies to strangers' endpoints are relays: only an open relay sends them.
    node = await nodes.start({ relayOpen: true })
    // Default relay rules: no loopback or private destinations.
    strict = await nodes.start({ relayOpen: true, relayPrivateDestinations: false })
    closed = await nodes.start()
  })
  after(async () => { await nodes.stopAll() })

  it('without return_route, or with "all", the reply is the HTTP body', async () => {
    const agent = new TestAgent()
    for (const extra of [{}, { return_route: 'all' }]) {
      const answer = await ping(agent, node, agent.did, extra)
      assert.equal(answer.status, 200)
      const reply = (await agent.unpack(answer.text)).message
      assert.equal(reply.type, PING_RESPONSE)
      assert.equal(reply.thid, answer.id)
    }
  })

  it('"none" from a client of the node: 202 with an empty body, the reply in its mailbox', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const answer = await ping(wallet, node, wallet.did, { return_route: 'none' })
    assert.deepEqual({ status: answer.status, text: answer.text }, { status: 202, text: '' })
    const picked = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(picked.map(r => [r.message.type, r.message.thid, r.message.from]), [[PING_RESPONSE, answer.id, node.did]])
    assert.equal(picked[0]?.authenticated, true)
  })

  it('"none" from a recipient DID in a client\'s keylist: the reply waits in that DID\'s mailbox', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const answer = await ping(wallet, node, pairwise, { return_route: 'none' })
    assert.equal(answer.status, 202)
    const picked = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(picked.map(r => [r.message.type, r.message.thid, r.message.to]), [[PING_RESPONSE, answer.id, [pairwise]]])
  })

  it('"none" from a DID with an HTTP endpoint: the reply is POSTed there', async () => {
    const inbox = await endpoint()
    try {
      const agent = new TestAgent()
      const did = agent.newDid(inbox.url)
      const answer = await ping(agent, node, did, { return_route: 'none' })
      assert.deepEqual({ status: answer.status, text: answer.text }, { status: 202, text: '' })
      await waitFor(() => inbox.bodies.length > 0 ? true : undefined, 10_000, 'the reply at the endpoint')
      const reply = await agent.unpack(inbox.bodies[0] ?? '')
      assert.equal(reply.message.type, PING_RESPONSE)
      assert.equal(reply.message.thid, answer.id)
      assert.equal(reply.authenticated, true)
    } finally {
      await inbox.close()
    }
  })

  it('"none" from a DID routed through another mediator: the reply goes there, in a forward, into its mailbox', async () => {
    // A mesh peer: a mediator DID names its libp2p peer first.
    const [home] = await nodes.join(node, [{}])
    assert.ok(home)
    const wallet = new TestAgent()
    await wallet.mediate(home.url, home.did)
    const pairwise = await wallet.pairwiseDid(home.url, home.did)
    const answer = await ping(wallet, node, pairwise, { return_route: 'none' })
    assert.equal(answer.status, 202)
    const picked = await waitFor(async () => {
      const got = await wallet.pickup(home.url, home.did)
      return got.length > 0 ? got : undefined
    }, 10_000, 'the reply at the home mediator')
    assert.deepEqual(picked.map(r => [r.message.type, r.message.thid, r.message.from]), [[PING_RESPONSE, answer.id, node.did]])
  })

  it('"none" where the reply cannot go: refused in the answer before the request takes effect', async () => {
    const agent = new TestAgent()
    // A loopback endpoint the strict node may not send to.
    const loopback = agent.newDid('http://127.0.0.1:9/inbox')
    const mediate = { ...agent.message(`${CM3}/mediate-request`, {}, strict.did, { return_route: 'none' }), from: loopback }
    const refused = await post(strict.url, await agent.pack(mediate, strict.did, loopback))
    assert.equal(refused.status, 403)
    const report = (await agent.unpack(refused.text)).message
    assert.equal(report.body.code, 'e.p.req.destination-not-allowed')
    assert.equal(report.pthid, mediate.id)
    // No mediation was granted: the same DID is still unknown to pickup.
    const status = await post(strict.url, await agent.pack({ ...agent.message(`${PICKUP3}/status-request`, {}, strict.did), from: loopback }, strict.did, loopback))
    assert.equal((await agent.unpack(status.text)).message.body.code, 'e.p.req.not-enrolled')

    // No service at all.
    const answer = await ping(agent, node, agent.did, { return_route: 'none' })
    assert.equal(answer.status, 400)
    assert.equal((await agent.unpack(answer.text)).message.body.code, 'e.p.xfer.cant-use-endpoint')
  })

  it('"none" from a stranger on a closed relay: refused, nothing sent, nothing queued (no relaying for DIDs that cost nothing)', async () => {
    const inbox = await endpoint()
    try {
      const agent = new TestAgent()
      const stranger = agent.newDid(inbox.url)
      const answer = await ping(agent, closed, stranger, { return_route: 'none' })
      assert.equal(answer.status, 400)
      const report = (await agent.unpack(answer.text)).message
      assert.equal(report.body.code, 'e.p.xfer.cant-use-endpoint')
      assert.match(String(report.body.comment), /only for its own clients/)
      // Without return_route the same stranger is answered in the body, as always.
      assert.equal((await agent.unpack((await ping(agent, closed, stranger, {})).text)).message.type, PING_RESPONSE)
      await sleep(300)
      assert.deepEqual(inbox.bodies, [])
      assert.equal(closed.node.info().mesh.outbox.depth, 0)
    } finally {
      await inbox.close()
    }
  })
})
