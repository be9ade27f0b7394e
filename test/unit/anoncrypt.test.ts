/**
 * The node's native anoncrypt unwrap against didcomm-rust (didcomm-node) on the same messages: every
 * anoncrypt algorithm the library produces, forwards as its own `forward` option and as clients build
 * them, several recipient keys, random bodies; tampered JWEs are refused by both.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { unwrapAnoncrypt } from '../../didcomm/anoncrypt.ts'
import type { JweJson } from '../../didcomm/jose.ts'
import { createEnvelope, EnvelopeError } from '../../didcomm/envelope.ts'
import type { Secret } from '../../didcomm/envelope.ts'
import { createPeerDid2, createResolver } from '../../didcomm/resolver.ts'
import { TestAgent } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'

const ALGORITHMS = [['A256cbcHs512EcdhEsA256kw', 'A256CBC-HS512'], ['Xc20pEcdhEsA256kw', 'XC20P'], ['A256gcmEcdhEsA256kw', 'A256GCM']] as const
const FORWARD = 'https://didcomm.org/routing/2.0/forward'

function keyFor (agent: TestAgent): (kid: string) => KeyObject | undefined {
  return kid => {
    const jwk = agent.secrets.get(kid)?.privateKeyJwk
    return jwk?.crv === 'X25519' ? createPrivateKey({ key: jwk, format: 'jwk' }) : undefined
  }
}

function envelopeOf (agent: TestAgent): ReturnType<typeof createEnvelope> {
  return createEnvelope(createResolver(), kid => agent.secrets.get(kid) as Secret | undefined)
}

function forwardTo (mediatorDid: string, next: string, inner: string): Plain {
  return { id: randomUUID(), type: FORWARD, to: [mediatorDid], body: { next }, attachments: [{ id: randomUUID(), data: { json: JSON.parse(inner) } }] }
}

/** Native unwrap, the node's envelope and the library agree on `packed`, and the native path did the work. */
async function assertSameAsLibrary (mediator: TestAgent, packed: string): Promise<void> {
  const library = await mediator.unpack(packed)
  const native = unwrapAnoncrypt(JSON.parse(packed) as JweJson, keyFor(mediator))
  assert.ok(native !== undefined, 'the native path took the message')
  assert.deepEqual(JSON.parse(native.plaintext), library.message)
  const node = await envelopeOf(mediator).unpack(packed)
  assert.deepEqual(node.message, library.message)
  assert.equal(node.sender, undefined)
  assert.deepEqual(node.recipientKids, (JSON.parse(packed) as JweJson).recipients.map(r => r.header.kid))
}

function tamper (packed: string, field: 'ciphertext' | 'tag' | 'iv' | 'encrypted_key' | 'apv'): string {
  const jwe = JSON.parse(packed) as JweJson
  const flip = (text: string): string => {
    const bytes = Buffer.from(text, 'base64url')
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01
    return bytes.toString('base64url')
  }
  if (field === 'encrypted_key') jwe.recipients = jwe.recipients.map(r => ({ ...r, encrypted_key: flip(r.encrypted_key) }))
  else if (field === 'apv') {
    const header = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()) as Record<string, string>
    jwe.protected = Buffer.from(JSON.stringify({ ...header, apv: flip(header.apv ?? '') })).toString('base64url')
  } else jwe[field] = flip(jwe[field])
  return JSON.stringify(jwe)
}

describe('native anoncrypt unwrap', () => {
  const mediator = new TestAgent()
  const mediatorDid = mediator.newDid('http://127.0.0.1:9')
  const sender = new TestAgent()
  const wallet = new TestAgent()
  const pairwise = wallet.newDid(mediatorDid)

  for (const [option, enc] of ALGORITHMS) {
    it(`matches didcomm-rust on forwards in ${enc}, wrapped by the library and by hand`, async () => {
      const message = sender.message('https://didcomm.org/basicmessage/2.0/message', { content: 'héllo ✓' }, pairwise)
      const wrapped = await sender.pack(message, pairwise, sender.did, { forward: true, enc_alg_anon: option })
      assert.equal(JSON.parse(Buffer.from((JSON.parse(wrapped) as JweJson).protected, 'base64url').toString()).enc, enc)
      await assertSameAsLibrary(mediator, wrapped)

      const inner = await sender.pack(message, pairwise)
      await assertSameAsLibrary(mediator, await sender.pack(forwardTo(mediatorDid, pairwise, inner), mediatorDid, null, { enc_alg_anon: option }))
    })

    it(`refuses tampered ${enc} JWEs, as the library does`, async () => {
      const packed = await sender.pack(sender.message('https://didcomm.org/trust-ping/2.0/ping', {}, mediatorDid), mediatorDid, null, { enc_alg_anon: option })
      for (const field of ['ciphertext', 'tag', 'iv', 'encrypted_key', 'apv'] as const) {
        const bad = tamper(packed, field)
        await assert.rejects(mediator.unpack(bad), `library refuses a changed ${field}`)
        await assert.rejects(envelopeOf(mediator).unpack(bad), EnvelopeError, `node refuses a changed ${field}`)
      }
    })
  }

  it('matches didcomm-rust on 60 random bodies, every algorithm', async () => {
    for (let i = 0; i < 60; i++) {
      const [option] = ALGORITHMS[i % ALGORITHMS.length] as (typeof ALGORITHMS)[number]
      const body = { text: randomBytes(Math.floor(Math.random() * 20_000)).toString('latin1'), n: i, nested: { list: [i, null, true] } }
      const packed = await sender.pack(sender.message('https://example.org/any/1.0/thing', body, mediatorDid), mediatorDid, null, { enc_alg_anon: option })
      await assertSameAsLibrary(mediator, packed)
    }
  })

  it('decrypts with whichever of several recipient keys it holds', async () => {
    const holder = new TestAgent()
    const ours = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' })
    const others = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' })
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
    const did = createPeerDid2({ keyAgreement: [Buffer.from(String(others.x), 'base64url'), Buffer.from(String(ours.x), 'base64url')], authentication: [Buffer.from(String(ed.x), 'base64url')], services: [] })
    holder.secrets.set(`${did}#key-2`, { id: `${did}#key-2`, type: 'JsonWebKey2020', privateKeyJwk: { kty: 'OKP', crv: 'X25519', x: String(ours.x), d: String(ours.d) } })
    const packed = await sender.pack(sender.message('https://didcomm.org/trust-ping/2.0/ping', {}, did), did, null)
    assert.equal((JSON.parse(packed) as JweJson).recipients.length, 2)
    await assertSameAsLibrary(holder, packed)
  })

  it('opens only the anoncrypt layer: an authcrypt JWE is not its form, a protected sender opens to the inner JWE', async () => {
    const ping = sender.message('https://didcomm.org/trust-ping/2.0/ping', {}, mediatorDid)
    assert.equal(unwrapAnoncrypt(JSON.parse(await sender.pack(ping, mediatorDid)) as JweJson, keyFor(mediator)), undefined)
    const protectedSender = await sender.pack(ping, mediatorDid, sender.did, { protect_sender: true })
    const outer = unwrapAnoncrypt(JSON.parse(protectedSender) as JweJson, keyFor(mediator))
    assert.ok(outer !== undefined && 'ciphertext' in JSON.parse(outer.plaintext), 'the outer layer opens to a JWE')
  })

  it('leaves a JWE for keys it does not hold to the library, which refuses it', async () => {
    const packed = await sender.pack(sender.message('https://didcomm.org/trust-ping/2.0/ping', {}, sender.did), sender.did, null)
    assert.equal(unwrapAnoncrypt(JSON.parse(packed) as JweJson, keyFor(mediator)), undefined)
    await assert.rejects(envelopeOf(mediator).unpack(packed), EnvelopeError)
  })
})
