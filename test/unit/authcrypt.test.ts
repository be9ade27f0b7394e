/**
 * Native authcrypt against didcomm-rust (didcomm-node), both ways: the node's replies are read by the
 * library as its own (same message, authenticated, from our key, for every recipient key), and what
 * the library authcrypts (alone or inside anoncrypt) the node opens to the same message and sender;
 * a changed byte is refused by both.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { EnvelopeError, createEnvelope } from '../../didcomm/envelope.ts'
import type { PlainMessage, Secret } from '../../didcomm/envelope.ts'
import type { JweJson } from '../../didcomm/jose.ts'
import { createNativeJwe } from '../../didcomm/native-jwe.ts'
import { createPeerDid2, createResolver } from '../../didcomm/resolver.ts'
import { TestAgent } from '../helpers/client.ts'

const DELIVERY = 'https://didcomm.org/messagepickup/3.0/delivery'

function nativeOf (agent: TestAgent): ReturnType<typeof createNativeJwe> {
  return createNativeJwe(createResolver(), kid => agent.secrets.get(kid) as Secret | undefined)
}

function envelopeOf (agent: TestAgent): ReturnType<typeof createEnvelope> {
  return createEnvelope(createResolver(), kid => agent.secrets.get(kid) as Secret | undefined)
}

function headerOf (packed: string): Record<string, unknown> {
  return JSON.parse(Buffer.from((JSON.parse(packed) as JweJson).protected, 'base64url').toString()) as Record<string, unknown>
}

function reply (from: string, to: string, extra: Partial<PlainMessage> = {}): PlainMessage {
  return { id: randomUUID(), type: 'https://didcomm.org/trust-ping/2.0/ping-response', body: {}, from, to: [to], thid: randomUUID(), created_time: 1_700_000_000, ...extra }
}

/** A DID with two X25519 keyAgreement keys, and one agent holding each key alone. */
function twoKeyRecipient (): { did: string, holders: TestAgent[] } {
  const keys = [generateKeyPairSync('x25519'), generateKeyPairSync('x25519')].map(pair => pair.privateKey.export({ format: 'jwk' }))
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const did = createPeerDid2({ keyAgreement: keys.map(jwk => Buffer.from(String(jwk.x), 'base64url')), authentication: [Buffer.from(String(ed.x), 'base64url')], services: [] })
  const holders = keys.map((jwk, i) => {
    const holder = new TestAgent()
    holder.secrets.set(`${did}#key-${i + 1}`, { id: `${did}#key-${i + 1}`, type: 'JsonWebKey2020', privateKeyJwk: { kty: 'OKP', crv: 'X25519', x: String(jwk.x), d: String(jwk.d) } })
    return holder
  })
  return { did, holders }
}

describe('native authcrypt', () => {
  const node = new TestAgent()
  const nodeDid = node.newDid('http://127.0.0.1:9')
  const wallet = new TestAgent()

  it('is unpacked by didcomm-rust as authcrypt from our key, the message unchanged', async () => {
    const message = reply(nodeDid, wallet.did, { body: { text: 'héllo ✓', list: [1, null, true] } })
    const packed = await nativeOf(node).pack(message, wallet.did, nodeDid)
    assert.ok(packed !== undefined, 'the native path packed it')
    assert.equal(headerOf(packed).alg, 'ECDH-1PU+A256KW')
    assert.equal(packed, JSON.stringify(JSON.parse(packed)), 'the JWE text, put together, is the JSON serialisation itself')
    const unpacked = await wallet.unpack(packed)
    assert.deepEqual(unpacked.message, { ...message, typ: 'application/didcomm-plain+json' })
    assert.equal(unpacked.authenticated, true)
    assert.equal(unpacked.fromKid, `${nodeDid}#key-1`)
  })

  it('carries a pickup delivery of 100 messages, and random bodies', async () => {
    const attachments = Array.from({ length: 100 }, (_, i) => ({ id: String(i), data: { base64: randomBytes(3800).toString('base64') } }))
    const delivery = reply(nodeDid, wallet.did, { type: DELIVERY, body: { recipient_did: wallet.did }, attachments })
    assert.deepEqual((await wallet.unpack(await nativeOf(node).pack(delivery, wallet.did, nodeDid) as string)).message.attachments, attachments)
    for (let i = 0; i < 30; i++) {
      const body = { text: randomBytes(Math.floor(Math.random() * 5000)).toString('latin1') }
      const message = reply(nodeDid, wallet.did, { body })
      assert.deepEqual((await wallet.unpack(await nativeOf(node).pack(message, wallet.did, nodeDid) as string)).message.body, body)
    }
  })

  it('encrypts to every keyAgreement key of the recipient, or only the key named', async () => {
    const { did, holders } = twoKeyRecipient()
    const packed = await nativeOf(node).pack(reply(nodeDid, did), did, nodeDid) as string
    assert.deepEqual((JSON.parse(packed) as JweJson).recipients.map(r => r.header.kid), [`${did}#key-1`, `${did}#key-2`])
    for (const holder of holders) assert.equal((await holder.unpack(packed)).authenticated, true)
    const toOne = await nativeOf(node).pack(reply(nodeDid, did), `${did}#key-2`, nodeDid) as string
    assert.deepEqual((JSON.parse(toOne) as JweJson).recipients.map(r => r.header.kid), [`${did}#key-2`])
    await assert.rejects(holders[0]?.unpack(toOne) ?? Promise.resolve())
    assert.equal((await holders[1]?.unpack(toOne))?.authenticated, true)
  })

  it('is refused by didcomm-rust when any part changes', async () => {
    const packed = await nativeOf(node).pack(reply(nodeDid, wallet.did), wallet.did, nodeDid) as string
    for (const field of ['ciphertext', 'tag', 'iv'] as const) {
      const jwe = JSON.parse(packed) as JweJson
      const bytes = Buffer.from(jwe[field], 'base64url')
      bytes[0] = (bytes[0] ?? 0) ^ 0x01
      jwe[field] = bytes.toString('base64url')
      await assert.rejects(wallet.unpack(JSON.stringify(jwe)), `a changed ${field} is refused`)
    }
  })

  it("is what the node's envelope uses for replies; forwards and protected senders stay with the library", async () => {
    const envelope = envelopeOf(node)
    assert.equal(headerOf(await envelope.pack(reply(nodeDid, wallet.did), wallet.did, nodeDid)).alg, 'ECDH-1PU+A256KW')
    const hidden = await envelope.pack(reply(nodeDid, wallet.did), wallet.did, nodeDid, { protectSender: true })
    assert.equal(headerOf(hidden).alg, 'ECDH-ES+A256KW')
    assert.equal((await wallet.unpack(hidden)).fromKid, `${nodeDid}#key-1`)
  })

  it('leaves senders whose keys it does not hold to the library', async () => {
    assert.equal(await nativeOf(node).pack(reply(wallet.did, nodeDid), nodeDid, wallet.did), undefined)
  })

  it('opens what didcomm-rust authcrypts, alone and inside anoncrypt, as the library does', async () => {
    for (const protectSender of [false, true]) {
      for (let i = 0; i < 10; i++) {
        const message = wallet.message('https://didcomm.org/messagepickup/3.0/status-request', { n: i, text: randomBytes(i * 300).toString('latin1') }, nodeDid)
        const packed = await wallet.pack(message, nodeDid, wallet.did, { protect_sender: protectSender })
        const native = await nativeOf(node).unpack(packed)
        assert.ok(native !== undefined, 'the native path opened it')
        const library = await node.unpack(packed)
        assert.deepEqual(native.message, library.message)
        assert.equal(native.sender, wallet.did)
        assert.deepEqual(native.recipientKids, [`${nodeDid}#key-1`])
      }
    }
  })

  it('refuses a changed authcrypt JWE, as the library does', async () => {
    const packed = await wallet.pack(wallet.message('https://didcomm.org/trust-ping/2.0/ping', {}, nodeDid), nodeDid)
    for (const field of ['ciphertext', 'tag', 'iv'] as const) {
      const jwe = JSON.parse(packed) as JweJson
      const bytes = Buffer.from(jwe[field], 'base64url')
      bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01
      jwe[field] = bytes.toString('base64url')
      await assert.rejects(node.unpack(JSON.stringify(jwe)), `the library refuses a changed ${field}`)
      await assert.rejects(envelopeOf(node).unpack(JSON.stringify(jwe)), EnvelopeError, `the node refuses a changed ${field}`)
    }
  })

  it('refuses a sender key that is not in the sender DID, as the library does', async () => {
    const stranger = new TestAgent()
    // Packed with the stranger's key but naming the wallet's key as skid/apu: the agreement cannot match.
    const packed = await nativeOf(stranger).pack(reply(stranger.did, nodeDid), nodeDid, stranger.did) as string
    const jwe = JSON.parse(packed) as JweJson
    const header = { ...headerOf(packed), skid: `${wallet.did}#key-1`, apu: Buffer.from(`${wallet.did}#key-1`).toString('base64url') }
    const forged = JSON.stringify({ ...jwe, protected: Buffer.from(JSON.stringify(header)).toString('base64url') })
    await assert.rejects(node.unpack(forged))
    await assert.rejects(envelopeOf(node).unpack(forged), EnvelopeError)
  })
})
