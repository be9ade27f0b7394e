/**
 * Pickup for a client holding many recipients: deliveries take the oldest messages across all of
 * them, hold at most DELIVERY_MAX_BYTES of queued messages, and acknowledgements are bounded in size
 * and delete exactly what they name.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { DELIVERY_MAX_BYTES } from '../../protocols/pickup/messages.ts'
import { CM3, PICKUP3, TestAgent, post, sendTo } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const RECIPIENTS = 1000

describe('pickup with many recipients', () => {
  const nodes = testNodes()
  let node: TestNode
  const wallet = new TestAgent()
  let recipients: string[]

  before(async () => {
    node = await nodes.start()
    await wallet.mediate(node.url, node.did)
    recipients = Array.from({ length: RECIPIENTS }, () => wallet.newDid(node.did))
    // In parts: a thousand did:peer:2 DIDs in one request would pass the message size limit.
    for (let i = 0; i < RECIPIENTS; i += 250) {
      const added = await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: recipients.slice(i, i + 250).map(did => ({ recipient_did: did, action: 'add' })) })
      assert.equal((added.body.updated as Array<{ result: string }>).filter(u => u.result === 'success').length, 250)
    }
  })
  after(async () => { await nodes.stopAll() })

  it('a delivery takes the oldest across all recipients; an acknowledgement of 1000 ids deletes just the delivered ones', async () => {
    // One message each to recipients spread over the keylist, one after another (arrival order).
    const sent = []
    for (let i = 0; i < 30; i++) sent.push(await sendTo(node, recipients[(i * 37) % RECIPIENTS] as string, `message ${i}`))

    const delivery = await wallet.request(node.url, node.did, `${PICKUP3}/delivery-request`, { limit: 10 })
    const attachments = delivery.attachments ?? []
    const contents = await Promise.all(attachments.map(async a => (await wallet.unpack(Buffer.from(a.data.base64 ?? '', 'base64').toString('utf8'))).message.body.content))
    assert.deepEqual(contents, sent.slice(0, 10).map((_, i) => `message ${i}`), 'the ten oldest, oldest first')

    const unknown = Array.from({ length: 1000 - attachments.length }, () => randomBytes(32).toString('base64url'))
    const ack = await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: [...unknown, ...attachments.map(a => a.id)] })
    assert.equal(ack.type, `${PICKUP3}/status`)
    assert.equal(ack.body.message_count, 20)

    const rest = await wallet.request(node.url, node.did, `${PICKUP3}/delivery-request`, { limit: 100 })
    const left = await Promise.all((rest.attachments ?? []).map(async a => (await wallet.unpack(Buffer.from(a.data.base64 ?? '', 'base64').toString('utf8'))).message.body.content))
    assert.deepEqual(left, sent.slice(10).map((_, i) => `message ${i + 10}`))
  })

  it('a delivery holds at most 1 MiB of queued messages, however many the client asks for; the rest follow in later ones', async () => {
    const recipient = recipients[500] as string // one the test above sent nothing to
    // ~430 KB each once packed: two fit in a delivery, three would not.
    for (let i = 0; i < 5; i++) await sendTo(node, recipient, `${i}:${randomBytes(120_000).toString('hex')}`)
    const counts: number[] = []
    for (;;) {
      const delivery = await wallet.request(node.url, node.did, `${PICKUP3}/delivery-request`, { limit: 1000, recipient_did: recipient })
      const attachments = delivery.attachments ?? []
      if (attachments.length === 0) break
      const packed = attachments.map(a => Buffer.from(a.data.base64 ?? '', 'base64'))
      assert.ok(packed.length === 1 || packed.reduce((sum, bytes) => sum + bytes.length, 0) <= DELIVERY_MAX_BYTES, `${packed.length} messages of ${packed.map(bytes => bytes.length).join(', ')} bytes`)
      for (const bytes of packed) assert.ok(bytes.length > 300_000)
      counts.push(attachments.length)
      await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: attachments.map(a => a.id) })
    }
    assert.deepEqual(counts, [2, 2, 1])
  })

  for (const [what, ids, where] of [
    ['more than 1000 ids', Array.from({ length: 1001 }, () => randomBytes(32).toString('base64url')), 'body.message_id_list'],
    ['an id of 10 000 characters', ['x'.repeat(10_000)], 'body.message_id_list.0']
  ] as const) {
    it(`messages-received with ${what} is refused with a problem report naming the field`, async () => {
      const request = wallet.message(`${PICKUP3}/messages-received`, { message_id_list: ids }, node.did)
      const answer = await post(node.url, await wallet.pack(request, node.did))
      assert.equal(answer.status, 400)
      const { message: reply } = await wallet.unpack(answer.text)
      assert.equal(reply.body.code, 'e.p.msg.malformed')
      assert.equal(reply.pthid, request.id)
      assert.ok(String(reply.body.comment).includes(`${where}:`), String(reply.body.comment))
    })
  }
})
