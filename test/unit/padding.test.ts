import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createEnvelope } from '../../didcomm/envelope.ts'
import { didSecrets, generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import type { DidKeys } from '../../didcomm/keys.ts'
import { bucketOf, fillJwe, forwardSizeOf, packPadded, paddedEnvelope } from '../../didcomm/padding.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { forwardMessage } from '../../protocols/routing/messages.ts'

const keys = new Map<string, DidKeys>()
function newDid (uri?: string): string {
  const k = { keyAgreement: generateOkpKey('X25519'), authentication: generateOkpKey('Ed25519') }
  const did = peerDid2For(k.keyAgreement, k.authentication, uri === undefined ? [] : [{ uri, accept: ['didcomm/v2'] }])
  keys.set(did, k)
  return did
}
const envelope = createEnvelope(createResolver(), didSecrets(did => keys.get(did)))
const mediator = newDid('http://127.0.0.1:8080')
const alice = newDid(mediator)
const bob = newDid(mediator)
const text = (n: number): { id: string, type: string, body: Record<string, unknown>, from: string, to: string[] } =>
  ({ id: `m-${n}`, type: 'https://didcomm.org/basicmessage/2.0/message', body: { content: 'x'.repeat(n) }, from: alice, to: [bob] })

describe('size buckets', () => {
  it('2 KiB steps up to 16 KiB, then eight steps per doubling; forwards in 2 KiB steps', () => {
    assert.deepEqual([0, 1, 2048, 2049, 6000, 16_384, 16_385, 40_000, 65_536, 65_537, 1_000_000].map(bucketOf),
      [2048, 2048, 2048, 4096, 6144, 16_384, 18_432, 40_960, 65_536, 73_728, 1_048_576])
    for (const size of [1000, 16_385, 65_537, 1_000_000]) {
      assert.ok(bucketOf(size) - size <= size / 8 + 2048, `at most an eighth added to ${size}`)
      assert.equal(forwardSizeOf(size) % 2048, 0)
      assert.ok(forwardSizeOf(size) - size < 2048)
    }
  })

  it('a forward filled is exactly a multiple of 2 KiB, and its reader still opens it', async () => {
    for (const n of [0, 500, 3000, 9000, 20_000]) {
      const inner = await envelope.pack(text(n), bob, alice, { protectSender: true })
      const filled = fillJwe(await envelope.anoncrypt(forwardMessage(bob, inner, { mediator }), mediator))
      assert.equal(filled.length, forwardSizeOf(filled.length))
      // What the next hop stores or relays is the attachment serialised again: the fill survives it.
      assert.equal(JSON.stringify(JSON.parse(filled)).length, filled.length)
      const opened = await envelope.unpack(filled)
      assert.equal(opened.message.body.next, bob)
    }
  })

  it('a padded plaintext lands within one cipher step below its bucket; the recipient reads the message with a pad header', async () => {
    const sizes: Array<{ raw: number, padded: number }> = []
    for (const n of [0, 10, 700, 1500, 5000, 12_000, 30_000]) {
      const raw = await envelope.pack(text(n), bob, alice, { protectSender: true })
      const padded = await paddedEnvelope(envelope).pack(text(n), bob, alice, { protectSender: true })
      const bucket = bucketOf(raw.length)
      assert.ok(padded.length <= bucket && padded.length > bucket - 64, `${padded.length} for bucket ${bucket}`)
      const { message } = await envelope.unpack(padded)
      assert.deepEqual(message.body, text(n).body)
      assert.equal(typeof message.pad, 'string')
      sizes.push({ raw: raw.length, padded: padded.length })
    }
    // Two messages of different lengths in one bucket are the same size, give or take a cipher step.
    const [empty, short] = sizes as [{ raw: number, padded: number }, { raw: number, padded: number }]
    assert.equal(bucketOf(empty.raw), bucketOf(short.raw))
    assert.notEqual(empty.raw, short.raw)
    assert.ok(Math.abs(empty.padded - short.padded) < 64)
  })

  it('packPadded stops at the bucket when the pad cannot get closer, and never overshoots', async () => {
    let calls = 0
    // A "cipher" with 1000-character steps: the best it can do below 4096 is 4000.
    const packed = await packPadded(async pad => { calls++; return 'x'.repeat(3000 + Math.floor(pad.length / 500) * 1000) })
    assert.equal(packed.length, 4000)
    assert.ok(calls <= 7, 'one pack, then at most six tries')
  })
})
