import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createEnvelope } from '../../didcomm/envelope.ts'
import { didSecrets, generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import type { DidKeys } from '../../didcomm/keys.ts'
import { bucketOf, fillJwe, forwardSizeOf, padded, paddedEnvelope } from '../../didcomm/padding.ts'
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

  it('a padded plaintext is a bucket long, packs to one size per bucket and recipient, and the recipient reads it with a pad header', async () => {
    const sizes = new Map<number, Set<number>>()
    for (const n of [0, 10, 700, 1500, 5000, 5200, 12_000, 30_000, 30_500]) {
      const message = padded(text(n))
      const plaintext = Buffer.byteLength(JSON.stringify(message))
      assert.equal(plaintext, bucketOf(plaintext), `${n}: padded to a bucket`)
      assert.ok(plaintext - Buffer.byteLength(JSON.stringify(text(n))) < Math.max(2048, plaintext / 8) + 16, `${n}: at most a step added`)
      const packed = await paddedEnvelope(envelope).pack(text(n), bob, alice, { protectSender: true })
      const { message: opened } = await envelope.unpack(packed)
      assert.deepEqual(opened.body, text(n).body)
      assert.equal(typeof opened.pad, 'string')
      sizes.set(plaintext, (sizes.get(plaintext) ?? new Set()).add(packed.length))
    }
    // Different lengths in one bucket (0 and 10, 5000 and 5200, 30,000 and 30,500) pack to exactly one size.
    assert.ok(sizes.size < 9, 'some lengths share a bucket')
    for (const [bucket, lengths] of sizes) assert.equal(lengths.size, 1, `bucket ${bucket}: ${[...lengths].join(', ')}`)
  })

  it('the native authcrypt pads the text it serialises: one size per bucket, a pad the recipient reads, none doubled', async () => {
    const sizes = new Map<number, Set<number>>()
    for (const n of [0, 10, 5000, 5200, 30_000, 30_500]) {
      const packed = await paddedEnvelope(envelope).pack({ ...text(n), pad: 'replaced' }, bob, alice)
      const { message: opened } = await envelope.unpack(packed)
      assert.deepEqual(opened.body, text(n).body)
      assert.match(String(opened.pad), /^ *$/)
      const bucket = bucketOf(Buffer.byteLength(JSON.stringify({ ...text(n), typ: 'application/didcomm-plain+json', pad: '' })))
      sizes.set(bucket, (sizes.get(bucket) ?? new Set()).add(packed.length))
    }
    assert.ok(sizes.size < 6, 'some lengths share a bucket')
    for (const [bucket, lengths] of sizes) assert.equal(lengths.size, 1, `bucket ${bucket}: ${[...lengths].join(', ')}`)
  })
})
