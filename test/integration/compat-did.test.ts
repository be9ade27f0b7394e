/**
 * §4a on DIDs: the node's mediator DID as Identus, didcomm-rust and the DIF demo read it, and a DIF
 * demo client whose every DID is a long-form did:peer:4 with a `didcomm:transport/queue` service.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createResolver } from '../../didcomm/resolver.ts'
import { BASIC, CM3, FrameSocket, PICKUP3, TestAgent, peerDid4, post } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const resolver = createResolver()

/** What the DIF demo does with each `.S` segment: fix only the first '-' and '_', then atob. */
function difDecode (segment: string): unknown {
  return JSON.parse(atob(segment.replace('-', '+').replace('_', '/')))
}

function serviceSegments (did: string): string[] {
  return did.split('.').filter(element => element.startsWith('S')).map(element => element.slice(1))
}

/** Checks the service list of a mediator DID the way each real client reads it. */
async function checkMediatorDid (did: string, expected: { http: string, ws: string, libp2p: string }): Promise<void> {
  const doc = await resolver.resolveOrThrow(did)
  const uris = doc.service.map(s => s.serviceEndpoint.uri)
  assert.deepEqual(uris, [expected.http, expected.ws, expected.libp2p], 'http first (Identus, didcomm-rust), then ws (DIF demo), then libp2p')
  for (const service of doc.service) {
    assert.equal(service.type, 'DIDCommMessaging')
    assert.deepEqual(service.serviceEndpoint.accept, ['didcomm/v2'])
    assert.deepEqual(service.serviceEndpoint.routing_keys, [])
  }

  const segments = serviceSegments(did)
  assert.equal(segments.length, 3)
  segments.forEach((segment, i) => {
    assert.ok(segment.split('-').length - 1 <= 1, `segment ${i} has more than one '-': ${segment}`)
    assert.ok(segment.split('_').length - 1 <= 1, `segment ${i} has more than one '_': ${segment}`)
    const decoded = difDecode(segment) as { t?: unknown, s?: { uri?: unknown, a?: unknown, r?: unknown } }
    // Identus resolves only the abbreviated {"t":"dm","s":{"uri",...}} form.
    assert.equal(decoded.t, 'dm')
    assert.equal(typeof decoded.s, 'object')
    assert.equal(decoded.s?.uri, uris[i])
    assert.deepEqual(decoded.s?.a, ['didcomm/v2'])
    assert.ok(decoded.s?.r === undefined || (Array.isArray(decoded.s.r) && decoded.s.r.length === 0), 'no routing keys')
  })
}

describe('the mediator DID as clients read it', () => {
  // Identus and didcomm-rust POST to the first service; the DIF demo opens the first ws one and decodes
  // S segments fixing only the first '-' and '_'.
  it('services are http, ws, libp2p, each accept didcomm/v2 without routing keys, and every S segment decodes the DIF way', async () => {
    const nodes = testNodes()
    const node = await nodes.start()
    try {
      assert.equal(node.info.endpoints.http, node.url)
      await checkMediatorDid(node.did, { http: node.url, ws: node.wsUrl, libp2p: `libp2p-peerId:${node.info.peerId}` })
    } finally {
      await nodes.stopAll()
    }
  })

  // The same with public URLs whose plain base64 would hold several '-' or '_' ('>', '?', '~' in the JSON).
  for (const publicUrl of ['https://mediator.example.org:8443/didcomm', 'https://m.example/a~b~c/d?x=>>>&y=???']) {
    it(`S segments stay DIF-decodable with publicUrl ${publicUrl}`, async () => {
      const nodes = testNodes()
      const node = await nodes.start({ publicUrl })
      try {
        const http = publicUrl.replace(/\/+$/, '')
        await checkMediatorDid(node.did, { http, ws: http.replace(/^http/, 'ws') + '/ws', libp2p: `libp2p-peerId:${node.info.peerId}` })
      } finally {
        await nodes.stopAll()
      }
    })
  }
})

describe('a did:peer:4 client (DIF demo)', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  it('resolves the long form to Multikey #key-1 (Ed25519) and #key-2 (X25519) under the long DID', async () => {
    const agent = new TestAgent()
    const { did, short } = peerDid4(agent, 'didcomm:transport/queue')
    const doc = await resolver.resolveOrThrow(did)
    assert.deepEqual(doc.authentication, [`${did}#key-1`])
    assert.deepEqual(doc.keyAgreement, [`${did}#key-2`])
    assert.deepEqual(doc.alsoKnownAs, [short])
    assert.equal(doc.service[0]?.serviceEndpoint.uri, 'didcomm:transport/queue')
  })

  // The DIF demo's client DID has service uri didcomm:transport/queue: it reads every reply from the
  // HTTP answer (or its socket); the node must never try to send there.
  it('mediates with CM 3.0, registers a did:peer:4 recipient, a forward reaches it, the client picks up, nothing goes to didcomm:transport/queue', async (t) => {
    const outbound: string[] = []
    const realFetch = globalThis.fetch
    globalThis.fetch = async (input, init) => {
      outbound.push(input instanceof Request ? input.url : String(input))
      return await realFetch(input, init)
    }
    t.after(() => { globalThis.fetch = realFetch })

    const wallet = new TestAgent()
    const client = peerDid4(wallet, 'didcomm:transport/queue')
    wallet.did = client.did

    const request = wallet.message(`${CM3}/mediate-request`, {}, node.did)
    const answer = await post(node.url, await wallet.pack(request, node.did))
    assert.equal(answer.status, 200, answer.text)
    const grant = (await wallet.unpack(answer.text)).message
    assert.equal(grant.type, `${CM3}/mediate-grant`)
    assert.deepEqual(grant.body.routing_did, [node.did])
    assert.deepEqual(grant.to, [client.did])
    assert.equal(grant.thid, request.id)

    // The DIF demo's contact DID routes through the mediator (its service uri is the routing DID).
    const recipient = peerDid4(wallet, node.did)
    const update = await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: recipient.did, action: 'add' }] })
    assert.deepEqual(update.body.updated, [{ recipient_did: recipient.did, action: 'add', result: 'success' }])

    const sender = new TestAgent()
    const sent = sender.message(BASIC, { content: 'to a did:peer:4' }, recipient.did)
    const forwarded = await sender.sendVia(node.url, sent, recipient.did, sender.did)
    assert.equal(forwarded.status, 202, forwarded.text)

    const status = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
    assert.equal(status.body.message_count, 1)
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.equal(received.length, 1)
    assert.equal(received[0]?.message.id, sent.id)
    assert.deepEqual(received[0]?.message.to, [recipient.did])
    const empty = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {})
    assert.equal(empty.body.message_count, 0)

    assert.deepEqual(outbound.filter(url => !url.startsWith(node.url)), [], 'the node sent nothing anywhere')
  })

  // Once a peer has seen the long form, it may address the short form: the forward's next is then the short DID.
  it('a forward whose next is the short form of a registered long-form did:peer:4 is queued for it', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did, CM3)
    const recipient = peerDid4(wallet, node.did)
    await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: recipient.did, action: 'add' }] })

    const sender = new TestAgent()
    const sent = sender.message(BASIC, { content: 'to the short form' }, recipient.did)
    const inner = await sender.pack(sent, recipient.did, sender.did)
    const forward = { id: crypto.randomUUID(), type: 'https://didcomm.org/routing/2.0/forward', to: [node.did], body: { next: recipient.short }, attachments: [{ data: { json: JSON.parse(inner) as unknown } }] }
    const answer = await post(node.url, await sender.pack(forward, node.did, null))
    assert.equal(answer.status, 202, answer.text)
    const received = await wallet.pickup(node.url, node.did, { ack: true })
    assert.deepEqual(received.map(r => r.message.id), [sent.id])
  })

  // The DIF demo in a browser: live mode over the first ws service, binary frames, pushes to its did:peer:4.
  it('goes live over WebSocket with its did:peer:4 and gets pushes for its did:peer:4 recipient', async () => {
    const wallet = new TestAgent()
    const client = peerDid4(wallet, 'didcomm:transport/queue')
    wallet.did = client.did
    await wallet.mediate(node.url, node.did, CM3)
    const recipient = peerDid4(wallet, node.did)
    await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: recipient.did, action: 'add' }] })

    const socket = await FrameSocket.open(node.wsUrl, { Origin: 'https://wallet.example' })
    try {
      socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did), node.did))
      const statusFrame = await socket.frame(0)
      assert.equal(statusFrame.binary, true)
      const status = (await wallet.unpack(statusFrame.text)).message
      assert.equal(status.type, `${PICKUP3}/status`)
      assert.equal(status.body.live_delivery, true)

      const sender = new TestAgent()
      const sent = sender.message(BASIC, { content: 'live to a did:peer:4' }, recipient.did)
      assert.equal((await sender.sendVia(node.url, sent, recipient.did, sender.did)).status, 202)
      const pushFrame = await socket.frame(1)
      assert.equal(pushFrame.binary, true)
      const delivery = (await wallet.unpack(pushFrame.text)).message
      assert.equal(delivery.type, `${PICKUP3}/delivery`)
      const attachment = delivery.attachments?.[0]
      const inner = (await wallet.unpack(atob(attachment?.data.base64 ?? ''))).message
      assert.equal(inner.id, sent.id)
      await waitFor(async () => {
        const ack = await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: [attachment?.id] })
        return ack.body.message_count === 0 ? true : undefined
      })
    } finally {
      await socket.close()
    }
  })
})
