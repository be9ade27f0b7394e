/**
 * Real Veramo 7 agents (@veramo/core, @veramo/did-comm 7.0.1, did:peer from @veramo/did-provider-peer)
 * against a real node, as Identus's SDK is in test/identus/. What in the node each step leans on:
 *
 * - Veramo packs authcrypt as `ECDH-1PU+A256KW` per draft 03 (the content tag is not bound into the
 *   KDF), without `apu`/`apv`, content in A256GCM, and wraps forwards in anoncrypt `ECDH-ES+A256KW`
 *   without `apv`: didcomm-rust refuses all of it, so the node opens this dialect natively
 *   (didcomm/legacy-jwe/) and **answers in it**: Veramo cannot open draft 04 authcrypt.
 * - Veramo's plaintexts carry no `typ`, and `created_time` as an ISO string.
 * - Replies come in the HTTP body (Veramo reads a body whose content type starts with
 *   `application/didcomm` and hands it to its message handler), with or without `return_route`.
 * - Veramo's pickup handler reads each delivered message from `attachments[].data.json` only (never
 *   base64): a delivery to a client that spoke this dialect carries them so, and Veramo
 *   acknowledges them with messages-received by itself.
 * - Veramo's did:peer:2 encodes its service as `{"id":…,"t":"dm","s":{"uri":<node DID>,"a":[…]}}`.
 * - A sending agent resolves the recipient's did:peer:2, sees the node's DID as its service
 *   endpoint, wraps the message in a forward for the node and POSTs it to the node's http service.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import {
  CoordinateMediation, UpdateAction, createMediateRequestMessage, createV3DeliveryRequestMessage, createV3MediateRequestMessage,
  createV3RecipientQueryMessage, createV3RecipientUpdateMessage, createV3StatusRequestMessage
} from '@veramo/did-comm'
import type { IDIDCommMessage } from '@veramo/did-comm'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'
import { peerDid, send, veramo } from './agent.ts'
import type { Veramo } from './agent.ts'

const BASIC = 'https://didcomm.org/basicmessage/2.0/message'
const PICKUP = 'https://didcomm.org/messagepickup/3.0'

async function legacyJweCounts (node: TestNode): Promise<{ received: number, sent: number }> {
  const text = await (await fetch(`${node.url}/metrics`)).text()
  const count = (direction: string): number => Number(new RegExp(`^didcomm_mesh_legacy_jwe_total\\{direction="${direction}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return { received: count('received'), sent: count('sent') }
}

/** A Veramo wallet with mediation (3.0) at the node and one pairwise DID routed through it. */
async function mediatedWallet (node: TestNode): Promise<{ wallet: Veramo, client: string, pairwise: string }> {
  const wallet = veramo()
  const client = (await peerDid(wallet.agent)).did
  const grant = await send(wallet.agent, createV3MediateRequestMessage(client, node.did), node.did)
  assert.equal(grant?.type, CoordinateMediation.MEDIATE_GRANT)
  const pairwise = (await peerDid(wallet.agent, node.did)).did
  const update = await send(wallet.agent, createV3RecipientUpdateMessage(client, node.did, [{ recipient_did: pairwise, action: UpdateAction.ADD }]), node.did)
  assert.equal(update?.type, CoordinateMediation.RECIPIENT_UPDATE_RESPONSE)
  assert.deepEqual(update.data, { updated: [{ recipient_did: pairwise, action: 'add', result: 'success' }] })
  return { wallet, client, pairwise }
}

/** Delivery requests (Veramo's own, `limit: 2`) until a status says nothing waits; Veramo acknowledges each delivery itself. */
async function pickupAll (wallet: Veramo, client: string, node: TestNode): Promise<number> {
  let deliveries = 0
  for (let i = 0; i < 20; i++) {
    const reply = await send(wallet.agent, createV3DeliveryRequestMessage(client, node.did), node.did)
    if (reply?.type === `${PICKUP}/status`) return deliveries
    assert.equal(reply?.type, `${PICKUP}/delivery`)
    deliveries++
  }
  throw new Error('the mailbox did not empty')
}

describe('Veramo 7 agents through the node', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  it('coordinate-mediation 3.0: mediate-grant with routing_did [node DID], recipient-update, recipient-query, all answered in the HTTP body in Veramo\'s dialect', async () => {
    const before = await legacyJweCounts(node)
    const wallet = veramo()
    const client = (await peerDid(wallet.agent)).did
    const request = createV3MediateRequestMessage(client, node.did)
    const grant = await send(wallet.agent, request, node.did)
    assert.equal(grant?.type, CoordinateMediation.MEDIATE_GRANT)
    assert.deepEqual(grant.data, { routing_did: [node.did] })
    assert.equal(grant.threadId, request.id)
    assert.equal(grant.from, node.did)

    const pairwise = (await peerDid(wallet.agent, node.did)).did
    const update = await send(wallet.agent, createV3RecipientUpdateMessage(client, node.did, [{ recipient_did: pairwise, action: UpdateAction.ADD }]), node.did)
    assert.deepEqual(update?.data, { updated: [{ recipient_did: pairwise, action: 'add', result: 'success' }] })
    const query = await send(wallet.agent, createV3RecipientQueryMessage(client, node.did), node.did)
    assert.equal(query?.type, CoordinateMediation.RECIPIENT_QUERY_RESPONSE)
    assert.deepEqual((query.data as { dids: unknown }).dids, [{ recipient_did: pairwise }])

    // Veramo could read each reply: it opened every one (the handler chain saw them decrypted).
    assert.deepEqual(wallet.unpacked.map(m => m.type), [CoordinateMediation.MEDIATE_GRANT, CoordinateMediation.RECIPIENT_UPDATE_RESPONSE, CoordinateMediation.RECIPIENT_QUERY_RESPONSE])
    const after = await legacyJweCounts(node)
    assert.equal(after.received - before.received, 3)
    assert.equal(after.sent - before.sent, 3)
  })

  it('coordinate-mediation 2.0: mediate-grant with routing_did a string', async () => {
    const wallet = veramo()
    const client = (await peerDid(wallet.agent)).did
    const grant = await send(wallet.agent, createMediateRequestMessage(client, node.did), node.did)
    assert.equal(grant?.type, 'https://didcomm.org/coordinate-mediation/2.0/mediate-grant')
    assert.deepEqual(grant.data, { routing_did: node.did })
  })

  it('a second Veramo agent sends through the node; the wallet picks up every message exactly once, intact', { timeout: 60_000 }, async () => {
    const { wallet, client, pairwise } = await mediatedWallet(node)
    const sender = veramo()
    const senderDid = (await peerDid(sender.agent)).did
    const sent = new Map<string, string>()
    for (let i = 0; i < 5; i++) {
      const message: IDIDCommMessage = { id: randomUUID(), type: BASIC, from: senderDid, to: [pairwise], created_time: new Date().toISOString(), body: { content: `veramo #${i} ${'ü'.repeat(i)}` } }
      // Veramo resolves the pairwise DID, wraps the message in a forward for the node and POSTs it.
      assert.equal(await send(sender.agent, message, pairwise), undefined, 'a forward gets no reply')
      sent.set(message.id, message.body.content as string)
    }

    const status = await send(wallet.agent, createV3StatusRequestMessage(client, node.did), node.did)
    assert.equal(status?.type, `${PICKUP}/status`)
    assert.equal((status.data as { message_count: number }).message_count, 5)

    // Veramo asks for two at a time: three deliveries, each acknowledged by Veramo itself.
    assert.equal(await pickupAll(wallet, client, node), 3)
    const basic = wallet.unpacked.filter(m => m.type === BASIC)
    assert.deepEqual(basic.map(m => m.id).sort(), [...sent.keys()].sort(), 'each message exactly once, and no other')
    for (const m of basic) {
      assert.deepEqual(m.body, { content: sent.get(m.id) })
      assert.equal(m.from, senderDid)
      assert.deepEqual(m.to, [pairwise])
    }
    // Acknowledged means gone: nothing comes again.
    const empty = await send(wallet.agent, createV3StatusRequestMessage(client, node.did), node.did)
    assert.equal((empty?.data as { message_count: number }).message_count, 0)
    assert.equal(await pickupAll(wallet, client, node), 0)
    assert.equal(wallet.unpacked.filter(m => m.type === BASIC).length, 5)
  })

  it('with legacyJwe off, Veramo\'s messages are refused as undecryptable (400, e.p.trust.crypto)', async () => {
    const strict = await nodes.start({ legacyJwe: false })
    const wallet = veramo()
    const client = (await peerDid(wallet.agent)).did
    const packed = await wallet.agent.packDIDCommMessage({ message: createV3MediateRequestMessage(client, strict.did), packing: 'authcrypt' })
    const answer = await fetch(strict.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: packed.message })
    assert.equal(answer.status, 400)
    assert.equal((await answer.json() as { body: { code: string } }).body.code, 'e.p.trust.crypto')
    assert.deepEqual(await legacyJweCounts(strict), { received: 0, sent: 0 })
  })
})
