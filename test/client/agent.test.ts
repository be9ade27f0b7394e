import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BASIC_MESSAGE, MediationDeniedError, MeshAgent, NodeUnreachableError, NotConnectedError, NotEnoughMixesError, UnknownContactError } from '../../client/index.ts'
import type { ReceivedMessage } from '../../client/index.ts'
import { AGENT_FILE } from '../../client/store.ts'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { invitation } from '../../protocols/out-of-band/messages.ts'
import { TRUST_PING_PROTOCOL } from '../../protocols/trust-ping/handler.ts'
import { TestAgent, post } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'
import { startPushGateway, startWebPushService } from '../helpers/push.ts'
import type { PushGateway, WebPushService } from '../helpers/push.ts'

/** The suite's nodes and its agents' dirs, all cleaned up in its `after`. */
const nodes = testNodes('didcomm-mesh-agent-')

/**
 * Agents of the three-node mesh send without mix hops unless a test asks: between two of its nodes
 * there is one mix, and an agent wanting two would refuse to send.
 */
const NO_MIXES = { mixHops: 0 }

async function agentOn (node: TestNode, options: { mediation?: '2.0' | '3.0', mixHops?: number } = {}): Promise<MeshAgent> {
  const agent = await MeshAgent.open(await nodes.dir(), { mixHops: options.mixHops ?? 0 })
  await agent.connect(node.did, options.mediation === undefined ? {} : { mediation: options.mediation })
  return agent
}

/** The business invites, the customer accepts; returns once the business has the customer as a contact. */
async function relate (business: MeshAgent, customer: MeshAgent, names: { business?: string, customer?: string } = {}): Promise<void> {
  const businessName = names.business ?? 'Acme'
  const customerName = names.customer ?? 'Alice'
  const offer = await business.createInvitation({ label: businessName })
  const contact = await customer.acceptInvitation(offer.url, { label: customerName })
  assert.equal(contact.name, businessName)
  await waitFor(async () => {
    await business.pickup()
    return business.contacts.find(c => c.name === customerName)
  }, 30_000, `${customerName} accepting ${businessName}'s invitation`)
}

const isText = (m: ReceivedMessage): boolean => m.type === BASIC_MESSAGE
const textOf = (m: ReceivedMessage): string => String(m.body.content)

/** Picks up until `n` basic messages have arrived; returns them in arrival order. */
async function pickupTexts (agent: MeshAgent, n: number, what: string): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = []
  await waitFor(async () => {
    got.push(...(await agent.pickup()).filter(isText))
    return got.length >= n ? true : undefined
  }, 30_000, what)
  return got
}

const relayed = (node: TestNode): number => node.node.info().mesh.outbox.delivered
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('MeshAgent against a three-node mesh', () => {
  let n1: TestNode
  let n2: TestNode
  let n3: TestNode

  before(async () => {
    n1 = await nodes.start()
    n2 = await nodes.start({ bootstrap: [n1.info.multiaddrs[0]] })
    n3 = await nodes.start({ bootstrap: [n1.info.multiaddrs[0]] })
    await waitFor(() => n1.node.info().peers.length >= 2 ? true : undefined, 20_000, 'n2 and n3 to connect to n1')
  })

  after(async () => { await nodes.stopAll() })

  it('gets coordinate-mediation 3.0 by default and 2.0 on request, and routes through the home node with either', async () => {
    const business = await MeshAgent.open(await nodes.dir(), NO_MIXES)
    const v3 = await business.connect(n1.node.invitation().url)
    assert.deepEqual(v3, { did: n1.did, routingDid: n1.did, mediation: '3.0', pickup: '4.0' })
    assert.deepEqual(business.node, v3)

    const customer = await MeshAgent.open(await nodes.dir(), NO_MIXES)
    const v2 = await customer.connect(n2.did, { mediation: '2.0' })
    assert.equal(v2.mediation, '2.0')
    assert.equal(v2.did, n2.did)
    assert.equal(v2.routingDid, n2.did, 'a 2.0 grant names routing_did as a string')

    await relate(business, customer)
    // Each pairwise DID routes through its holder's home node, and is not the agent's own DID.
    const resolver = createResolver()
    const bContact = business.contact('Alice')
    const cContact = customer.contact('Acme')
    assert.equal(bContact.theirDid, cContact.myDid)
    assert.equal(cContact.theirDid, bContact.myDid)
    assert.notEqual(bContact.myDid, business.did)
    assert.notEqual(cContact.myDid, customer.did)
    assert.equal((await resolver.resolve(bContact.myDid))?.service[0]?.serviceEndpoint.uri, n1.did)
    assert.equal((await resolver.resolve(cContact.myDid))?.service[0]?.serviceEndpoint.uri, n2.did)

    await business.send('Alice', 'to a 2.0 client')
    assert.deepEqual((await pickupTexts(customer, 1, 'message to the 2.0 client')).map(textOf), ['to a 2.0 client'])
    await customer.send('Acme', 'to a 3.0 client')
    assert.deepEqual((await pickupTexts(business, 1, 'message to the 3.0 client')).map(textOf), ['to a 3.0 client'])
  })

  it('invitation and acceptance: labels name the contacts on both sides, a chosen name wins, pairwise DIDs are per relationship', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)

    const offer = await business.createInvitation({ label: 'Acme Shop' })
    assert.match(offer.url, /\?_oob=/)
    assert.equal(offer.invitation.body.label, 'Acme Shop')
    const contact = await customer.acceptInvitation(offer.url, { label: 'Alice' })
    assert.equal(contact.name, 'Acme Shop')
    const greeting = await waitFor(async () => (await business.pickup()).find(m => m.contact !== undefined), 30_000, 'acceptance ping')
    assert.equal(greeting.contact?.name, 'Alice')
    assert.equal(greeting.message.pthid, offer.invitation.id)

    // A second invitation from the same business: the customer's own name for it, and new DIDs on both sides.
    const second = await business.createInvitation({ label: 'Acme Shop' })
    const renamed = await customer.acceptInvitation(second.url, { name: 'acme-support', label: 'Alice' })
    assert.equal(renamed.name, 'acme-support')
    await waitFor(async () => {
      await business.pickup()
      return business.contacts.length === 2 ? true : undefined
    }, 30_000, 'the second acceptance')
    // Two relationships with one person: names stay unique.
    assert.deepEqual(business.contacts.map(c => c.name), ['Alice', 'Alice-2'])
    assert.deepEqual(customer.contacts.map(c => c.name), ['Acme Shop', 'acme-support'])
    const mine = customer.contacts.map(c => c.myDid)
    const theirs = customer.contacts.map(c => c.theirDid)
    assert.equal(new Set([...mine, ...theirs]).size, 4, 'a new pairwise DID on each side for each relationship')

    // An invitation is single-use: a second acceptance from someone else does not become a contact.
    const stranger = await agentOn(n3)
    await stranger.acceptInvitation(offer.url, { label: 'Mallory' })
    await sleep(1500)
    await business.pickup()
    assert.equal(business.contacts.some(c => c.name === 'Mallory'), false)

    // Built-in trust ping: a ping that asks for a response gets one, threaded to it.
    const pingId = await customer.send('Acme Shop', { type: `${TRUST_PING_PROTOCOL}/ping`, body: { response_requested: true } })
    const ping = await waitFor(async () => (await business.pickup()).find(m => m.id === pingId), 30_000, 'ping')
    assert.equal(ping.contact?.name, 'Alice')
    const pong = await waitFor(async () => (await customer.pickup()).find(m => m.type === `${TRUST_PING_PROTOCOL}/ping-response`), 30_000, 'ping response')
    assert.equal(pong.message.thid, pingId)
    assert.equal(pong.contact?.name, 'Acme Shop')
  })

  it('sends across the mesh to an offline recipient, who gets everything at a later pickup', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const before = relayed(n1)
    const ids = [await business.send('Alice', 'while you were out 1'), await business.send('Alice', 'while you were out 2')]
    // Both reached the customer's node; the customer has not asked for anything yet.
    await waitFor(() => relayed(n1) >= before + 2 ? true : undefined, 30_000, 'n1 relaying both messages to n2')
    await sleep(500)

    const got = await pickupTexts(customer, 2, 'the waiting messages')
    assert.deepEqual(got.map(m => m.id), ids)
    assert.deepEqual(got.map(textOf), ['while you were out 1', 'while you were out 2'])
    assert.ok(got.every(m => m.contact?.name === 'Acme' && m.from === customer.contact('Acme').theirDid))
    assert.deepEqual(await customer.pickup(), [], 'acknowledged: nothing comes twice')
  })

  it('delivers live to an online recipient through listen', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const got: ReceivedMessage[] = []
    const connection = await customer.listen(m => { if (isText(m)) got.push(m) })
    try {
      const id = await business.send('Alice', 'live one')
      await waitFor(() => got.length >= 1 ? true : undefined, 30_000, 'live delivery')
      assert.equal(got[0]?.id, id)
      assert.equal(got[0]?.contact?.name, 'Acme')
    } finally {
      await connection.close()
    }
    assert.deepEqual(await customer.pickup(), [], 'the live message was acknowledged')
  })

  it('handler failure: that message stays queued and comes again at a later pickup; the others are acknowledged', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const before = relayed(n1)
    await business.send('Alice', 'one')
    const badId = await business.send('Alice', 'bad')
    await business.send('Alice', 'three')
    await waitFor(() => relayed(n1) >= before + 3 ? true : undefined, 30_000, 'the three messages at n2')

    const tried: string[] = []
    const first = await customer.pickup(m => {
      if (!isText(m)) return
      tried.push(textOf(m))
      if (textOf(m) === 'bad') throw new Error('handler failed')
    })
    // Arrival order at n2 is not promised (relays are pipelined; two in one millisecond sort by hash).
    assert.deepEqual([...tried].sort(), ['bad', 'one', 'three'])
    assert.deepEqual(first.map(textOf).sort(), ['one', 'three'])

    const again = await customer.pickup()
    assert.deepEqual(again.map(m => m.id), [badId], 'only the failed one comes again')
    assert.deepEqual(await customer.pickup(), [])

    // The same in live mode: a throwing handler leaves its message unacknowledged at the node.
    const live: string[] = []
    const connection = await customer.listen(m => {
      if (!isText(m)) return
      if (textOf(m) === 'live bad') throw new Error('handler failed')
      live.push(textOf(m))
    })
    try {
      const liveBadId = await business.send('Alice', 'live bad')
      await business.send('Alice', 'live good')
      await waitFor(() => live.includes('live good') ? true : undefined, 30_000, 'the good live message')
      await sleep(300)
      await connection.close()
      const later = await customer.pickup()
      assert.deepEqual(later.map(m => m.id), [liveBadId])
      assert.deepEqual(live, ['live good'])
    } finally {
      await connection.close()
    }
  })

  it('dedupe: one message id delivered twice (two different packings) is handled once, and both copies are acknowledged', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n1)
    await relate(business, customer)
    const to = customer.contact('Acme').myDid

    // Anyone may post a forward for a DID in the node's keylist; each packing has fresh ephemeral keys, so the node keeps both.
    const outsider = new TestAgent()
    const message = { id: randomUUID(), type: BASIC_MESSAGE, body: { content: 'said twice' }, to: [to] }
    for (let i = 0; i < 2; i++) {
      const answer = await post(n1.url, await outsider.pack(message, to, null, { forward: true }))
      assert.equal(answer.status, 202, answer.text)
    }
    const calls: string[] = []
    const got = await customer.pickup(m => { calls.push(m.id) })
    assert.deepEqual(calls, [message.id], 'the handler ran once')
    assert.deepEqual(got.map(m => m.id), [message.id])
    assert.equal(got[0]?.from, undefined, 'anonymous')
    assert.deepEqual(await customer.pickup(), [], 'the duplicate was acknowledged too')
  })

  it('reopening the agent keeps its DID, node and contacts, in a 0600 file', async () => {
    const path = await nodes.dir()
    const business = await MeshAgent.open(path, NO_MIXES)
    await business.connect(n1.did)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const mode = (await stat(join(path, AGENT_FILE))).mode & 0o777
    assert.equal(mode, 0o600)

    const reopened = await MeshAgent.open(path, NO_MIXES)
    assert.equal(reopened.did, business.did)
    assert.deepEqual(reopened.node, business.node)
    assert.deepEqual(reopened.contacts, business.contacts)
    assert.equal(reopened.contact('Alice').theirDid, customer.contact('Acme').myDid)

    // The keys came back too: it reads what is sent to it, and can send.
    await customer.send('Acme', 'after your restart')
    assert.deepEqual((await pickupTexts(reopened, 1, 'message to the reopened agent')).map(textOf), ['after your restart'])
    await reopened.send('Alice', 'still me')
    const got = await pickupTexts(customer, 1, 'message from the reopened agent')
    assert.equal(got[0]?.from, customer.contact('Acme').theirDid)
  })

  it('via: an extra hop through a third node', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const atN3 = relayed(n3)
    await business.send('Alice', 'the long way round', { via: [n3.did] })
    const got = await pickupTexts(customer, 1, 'the message via n3')
    assert.deepEqual(got.map(textOf), ['the long way round'])
    assert.ok(relayed(n3) > atN3, 'n3 relayed it on')

    // And back, via n3 as well.
    const atN3Again = relayed(n3)
    await customer.send('Acme', 'and back', { via: [n3.did] })
    assert.deepEqual((await pickupTexts(business, 1, 'the reply via n3')).map(textOf), ['and back'])
    assert.ok(relayed(n3) > atN3Again)
  })

  it('both agents on the same node: no relay, messages both ways (no mix hops needed: the node holds both ends anyway)', async () => {
    const business = await agentOn(n1, { mixHops: 2 })
    const customer = await agentOn(n1, { mixHops: 2 })
    await relate(business, customer)

    const before = relayed(n1)
    await business.send('Alice', 'next door')
    assert.deepEqual((await pickupTexts(customer, 1, 'same-node message')).map(textOf), ['next door'])
    await customer.send('Acme', 'hello neighbour')
    assert.deepEqual((await pickupTexts(business, 1, 'same-node reply')).map(textOf), ['hello neighbour'])
    assert.equal(relayed(n1), before, 'nothing went through the mesh')
  })

  it('mix hops: wanting more than the home node offers fails with NotEnoughMixesError and sends nothing', async () => {
    // n1 lists n3 (the agent keeps the first list it gets for a minute).
    await waitFor(async () => ((await (await fetch(`${n1.url}/mesh/mixes`)).json()) as { mixes: Array<{ did: string }> }).mixes.some(m => m.did === n3.did) ? true : undefined, 20_000, 'n3 in n1\'s mix directory')
    const business = await agentOn(n1, { mixHops: 2 })
    const customer = await agentOn(n2)
    await relate(business, customer)
    const outbox = (): unknown => n1.node.info().mesh.outbox
    const before = outbox()

    // Between n1 and n2 the mesh has one mix, n3: two or three hops cannot be drawn.
    for (const options of [{}, { mixHops: 3 }]) {
      await assert.rejects(business.send('Alice', 'through too few mixes', options), (err: Error) =>
        err instanceof NotEnoughMixesError && err.available === 1 && /not sent: \d mix hops wanted, but the home node offers 1 usable mix node /.test(err.message))
    }
    assert.deepEqual(outbox(), before, 'n1 queued or relayed something')
    // One hop, through the one mix there is, goes; and it is the only message that arrives.
    await business.send('Alice', 'through n3', { mixHops: 1 })
    assert.deepEqual((await pickupTexts(customer, 1, 'the message through n3')).map(textOf), ['through n3'])
    await sleep(500) // time for anything else to show up
    assert.deepEqual(await customer.pickup(), [])

    // An acceptance that cannot have its mix hops fails before it mints a DID or keeps a contact.
    const wallet = await agentOn(n2, { mixHops: 2 })
    await assert.rejects(wallet.acceptInvitation((await business.createInvitation()).url), NotEnoughMixesError)
    assert.deepEqual(wallet.contacts, [])
  })

  it('a contact whose mediator is outside the mesh gets the message without mix hops, whatever the agent asks (mixes relay only to mesh mediators)', async () => {
    const bodies: string[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8') })
      req.on('end', () => { bodies.push(body); res.writeHead(202).end() })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const did = (uri: string): string => peerDid2For(generateOkpKey('X25519'), generateOkpKey('Ed25519'), [{ uri, accept: ['didcomm/v2'] }])
      const mediator = did(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      const business = await agentOn(n1, { mixHops: 2 })
      await business.acceptInvitation(invitation(did(mediator), 'http://127.0.0.1/', { goal_code: 'connect', goal: 'test' }).url, { name: 'Elsewhere' })
      await waitFor(() => bodies.length > 0 ? true : undefined, 20_000, 'the forward at the mediator outside the mesh')
    } finally {
      server.close()
    }
  })

  it('errors: unknown contact, node unreachable, not connected', async () => {
    const fresh = await MeshAgent.open(await nodes.dir())
    await assert.rejects(fresh.send('Acme', 'too early'), NotConnectedError)
    await assert.rejects(fresh.createInvitation(), NotConnectedError)
    await assert.rejects(fresh.pickup(), NotConnectedError)
    await assert.rejects(fresh.listen(() => {}), NotConnectedError)
    assert.equal(fresh.node, undefined)

    const connected = await agentOn(n1)
    await assert.rejects(connected.send('nobody', 'hi'), (err: Error) => err instanceof UnknownContactError && /no contact named 'nobody'/.test(err.message))
    assert.throws(() => connected.contact('nobody'), UnknownContactError)

    // A node that is gone: its DID names a closed port.
    const gone = await nodes.start()
    const goneDid = gone.did
    const goneInvitation = gone.node.invitation().url
    await gone.stop()
    await assert.rejects(fresh.connect(goneDid), NodeUnreachableError)
    await assert.rejects(fresh.connect(goneInvitation), NodeUnreachableError)
    assert.equal(fresh.node, undefined, 'a failed connect leaves the agent unconnected')
  })

  it('mediation denied: a node with room for one client refuses the second', async () => {
    const small = await nodes.start({ maxMediations: 1 })
    const first = await MeshAgent.open(await nodes.dir())
    await first.connect(small.did)
    const second = await MeshAgent.open(await nodes.dir())
    await assert.rejects(second.connect(small.did), MediationDeniedError)
    assert.equal(second.node, undefined)
    // The one granted keeps it: asking again is not a new mediation.
    assert.equal((await first.connect(small.did)).did, small.did)
    await small.stop()
  })

  // Last: it restarts n2.
  it('live delivery survives the home node restarting mid-stream: every message exactly once', async () => {
    const business = await agentOn(n1)
    const customer = await agentOn(n2)
    await relate(business, customer)

    const calls = new Map<string, number>()
    const connection = await customer.listen(m => { if (isText(m)) calls.set(m.id, (calls.get(m.id) ?? 0) + 1) })
    const sent: string[] = []
    const allIn = (): true | undefined => sent.every(id => calls.has(id)) ? true : undefined
    try {
      for (let i = 1; i <= 3; i++) sent.push(await business.send('Alice', `before ${i}`))
      await waitFor(allIn, 30_000, 'the first three live')

      // A burst, and the customer's home node goes down while it streams.
      const burst = Promise.all(Array.from({ length: 5 }, async (_, i) => await business.send('Alice', `burst ${i + 1}`)))
      const old = n2
      const restarting = old.restart()
      sent.push(...await burst)
      for (let i = 1; i <= 3; i++) sent.push(await business.send('Alice', `while down ${i}`))
      n2 = await restarting
      assert.equal(n2.did, old.did, 'same node, same DID')
      for (let i = 1; i <= 3; i++) sent.push(await business.send('Alice', `after ${i}`))

      await waitFor(allIn, 60_000, `all ${sent.length} messages after the reconnect (got ${calls.size})`)
      await sleep(1000) // time for any duplicate to show up
      assert.equal(new Set(sent).size, 14)
      assert.equal(calls.size, 14, 'no message the business did not send')
      assert.deepEqual([...calls.entries()].filter(([, n]) => n !== 1), [], 'no message handled twice')
    } finally {
      await connection.close()
    }
    assert.deepEqual(await customer.pickup(), [], 'nothing left unacknowledged')
  })
})

describe('MeshAgent push devices', () => {
  let service: WebPushService
  let gateway: PushGateway
  let node: TestNode

  before(async () => {
    service = await startWebPushService()
    gateway = await startPushGateway()
    node = await nodes.start({ pushHosts: ['127.0.0.1'], pushPrivateDestinations: true, pushGatewayUrl: gateway.url })
  })
  after(async () => {
    await nodes.stopAll()
    await service.close()
    await gateway.close()
  })

  it('registers a Web Push subscription and FCM and APNs tokens, shows and removes them; a sleeping agent is woken, a listening one is not', async () => {
    const business = await agentOn(node)
    const customer = await agentOn(node)
    await relate(business, customer)
    const empty = await customer.pushDevices()
    assert.deepEqual(empty.offered, ['webpush', 'fcm', 'apns'])
    assert.match(empty.vapidPublicKey ?? '', /^[\w-]{87}$/)
    assert.deepEqual(empty.devices, [])

    const sub = service.subscribe()
    await customer.setPushDevice({ kind: 'webpush', subscription: sub.subscription })
    await customer.setPushDevice({ kind: 'fcm', token: 'fcm-agent', platform: 'android' })
    await customer.setPushDevice({ kind: 'apns', token: 'd'.repeat(64) })
    const held = await customer.pushDevices()
    assert.deepEqual(held.devices.map(({ id: _id, ...device }) => device), [
      { kind: 'webpush', subscription: sub.subscription },
      { kind: 'fcm', token: 'fcm-agent', platform: 'android' },
      { kind: 'apns', token: 'd'.repeat(64) }
    ])

    await business.send('Alice', 'are you there?')
    const [push] = await waitFor(() => service.received.length > 0 ? service.received : undefined, 5000, 'the Web Push')
    assert.deepEqual(push?.payload, { event: 'messages-waiting', device: held.devices[0]?.id })
    await waitFor(() => gateway.received.length === 2 ? true : undefined, 5000, 'FCM and APNs through the gateway')
    assert.equal((await pickupTexts(customer, 1, 'the message')).length, 1)

    const received: string[] = []
    const live = await customer.listen(m => { if (isText(m)) received.push(textOf(m)) })
    try {
      await business.send('Alice', 'live now')
      await waitFor(() => received.length === 1 ? true : undefined, 10_000, 'the live message')
      assert.equal(service.received.length, 1, 'no push while listening')
    } finally {
      await live.close()
    }

    await customer.removePushDevices('fcm')
    assert.deepEqual((await customer.pushDevices()).devices.map(d => d.kind), ['webpush', 'apns'])
    await customer.removePushDevices()
    assert.deepEqual((await customer.pushDevices()).devices, [])
  })
})
