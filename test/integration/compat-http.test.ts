/**
 * §4a over HTTP, each test named after the real client behaviour it serves: CORS for browser wallets,
 * replies in the HTTP body without return_route, forwards authcrypted and with every anoncrypt
 * algorithm, millisecond created_time, pickup 3.0 polling with nothing queued.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { BASIC, CM2, CM3, PICKUP3, TestAgent, post } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const FORWARD = 'https://didcomm.org/routing/2.0/forward'
const JWE = 'application/didcomm-encrypted+json'

interface RawAnswer { status: number, headers: Record<string, string | string[] | undefined>, text: string }

/** A request the way a browser sends it: node:http, so that Origin and preflight headers go out verbatim. */
async function raw (url: string, method: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A forward built by hand, as Identus does (didcomm-rust's own wrapping is anoncrypt only). */
function forwardTo (next: string, inner: string, encoding: 'json' | 'base64', to: string, from?: string): Plain {
  return {
    id: randomUUID(),
    type: FORWARD,
    body: { next },
    to: [to],
    ...(from === undefined ? {} : { from }),
    created_time: Math.floor(Date.now() / 1000),
    attachments: [{ id: randomUUID(), data: encoding === 'json' ? { json: JSON.parse(inner) as unknown } : { base64: Buffer.from(inner).toString('base64') } }]
  }
}

describe('wallet compatibility over HTTP', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  // Browser wallets (DIF demo) POST application/didcomm-encrypted+json cross-origin: a preflight comes first.
  it('CORS: preflight passes and a cross-origin mediate-request gets 200, allow-origin and a JWE object body', async () => {
    const preflight = await raw(node.url + '/', 'OPTIONS', {
      Origin: 'https://wallet.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type'
    })
    assert.ok(preflight.status >= 200 && preflight.status < 300, `preflight status ${preflight.status}`)
    const allowOrigin = preflight.headers['access-control-allow-origin']
    assert.ok(allowOrigin === '*' || allowOrigin === 'https://wallet.example', `allow-origin ${String(allowOrigin)}`)
    const allowHeaders = String(preflight.headers['access-control-allow-headers'] ?? '').toLowerCase().split(/\s*,\s*/)
    assert.ok(allowHeaders.includes('content-type'), `allow-headers ${String(preflight.headers['access-control-allow-headers'])}`)
    const allowMethods = String(preflight.headers['access-control-allow-methods'] ?? '')
    assert.match(allowMethods, /POST/)

    const wallet = new TestAgent()
    const msg = wallet.message(`${CM3}/mediate-request`, {}, node.did)
    const answer = await raw(node.url + '/', 'POST', { Origin: 'https://wallet.example', 'content-type': JWE }, await wallet.pack(msg, node.did))
    assert.equal(answer.status, 200, answer.text)
    const origin = answer.headers['access-control-allow-origin']
    assert.ok(origin === '*' || origin === 'https://wallet.example', `allow-origin ${String(origin)}`)
    const body: unknown = JSON.parse(answer.text)
    assert.equal(typeof body, 'object', 'the body is the JWE itself, not a JSON string holding it')
    assert.equal(typeof (body as { ciphertext?: unknown }).ciphertext, 'string')
    const { message } = await wallet.unpack(answer.text)
    assert.equal(message.type, `${CM3}/mediate-grant`)

    // Every answer carries it, refusals and empty 202s too, or the browser hides them from the wallet.
    const refused = await raw(node.url + '/', 'POST', { Origin: 'https://wallet.example', 'content-type': JWE }, '{"not":"a jwe"}')
    assert.ok(refused.status >= 400 && refused.status < 500, `status ${refused.status}`)
    assert.ok(refused.headers['access-control-allow-origin'] !== undefined, 'refusal without allow-origin')
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const sender = new TestAgent()
    const forward = await sender.pack(sender.message(BASIC, { content: 'cors' }, pairwise), pairwise, sender.did, { forward: true })
    const accepted = await raw(node.url + '/', 'POST', { Origin: 'https://wallet.example', 'content-type': JWE }, forward)
    assert.equal(accepted.status, 202, accepted.text)
    assert.ok(accepted.headers['access-control-allow-origin'] !== undefined, '202 without allow-origin')
  })

  // Identus and the DIF demo never set return_route on requests; an empty 202 would leave them waiting forever.
  it('replies in the HTTP body without return_route: mediate-request → 200 JWE, forward → 202 empty', async () => {
    const wallet = new TestAgent()
    const request = wallet.message(`${CM2}/mediate-request`, {}, node.did)
    assert.equal(request.return_route, undefined)
    const answer = await post(node.url, await wallet.pack(request, node.did))
    assert.equal(answer.status, 200, answer.text)
    assert.match(answer.contentType, /^application\/didcomm-encrypted\+json/)
    const grant = (await wallet.unpack(answer.text)).message
    assert.equal(grant.type, `${CM2}/mediate-grant`)
    // Identus speaks CM 2.0 and needs routing_did as a string.
    assert.equal(grant.body.routing_did, node.did)

    const pairwise = await wallet.pairwiseDid(node.url, node.did, CM2)
    const sender = new TestAgent()
    const forwarded = await sender.sendVia(node.url, sender.message(BASIC, { content: 'hi' }, pairwise), pairwise, sender.did)
    assert.equal(forwarded.status, 202, forwarded.text)
    assert.equal(forwarded.text, '')
  })

  // Identus sends forwards authcrypted from the sender's peer DID, the message in data.json; others use data.base64.
  for (const encoding of ['json', 'base64'] as const) {
    it(`authcrypted forward (Identus), inner message in data.${encoding}: 202 and the wallet picks it up`, async () => {
      const wallet = new TestAgent()
      await wallet.mediate(node.url, node.did)
      const pairwise = await wallet.pairwiseDid(node.url, node.did)
      const sender = new TestAgent()
      const sent = sender.message(BASIC, { content: `authcrypt forward ${encoding}` }, pairwise)
      const inner = await sender.pack(sent, pairwise, sender.did)
      const forward = forwardTo(pairwise, inner, encoding, node.did, sender.did)
      const packed = await sender.pack(forward, node.did, sender.did)
      const header = JSON.parse(Buffer.from((JSON.parse(packed) as { protected: string }).protected, 'base64url').toString('utf8')) as { alg: string }
      assert.equal(header.alg, 'ECDH-1PU+A256KW', 'the forward really is authcrypted')
      const answer = await post(node.url, packed)
      assert.equal(answer.status, 202, answer.text)
      assert.equal(answer.text, '')

      const received = await wallet.pickup(node.url, node.did, { ack: true })
      assert.equal(received.length, 1)
      assert.equal(received[0]?.message.id, sent.id)
      assert.deepEqual(received[0]?.message.body, { content: `authcrypt forward ${encoding}` })
    })
  }

  // didcomm-rust's default anoncrypt is XC20P; every algorithm it offers must get through.
  for (const [alg, enc] of [['A256cbcHs512EcdhEsA256kw', 'A256CBC-HS512'], ['Xc20pEcdhEsA256kw', 'XC20P'], ['A256gcmEcdhEsA256kw', 'A256GCM']] as const) {
    it(`anoncrypt forward with ${alg} (didcomm-rust enc_alg_anon) is accepted`, async () => {
      const wallet = new TestAgent()
      await wallet.mediate(node.url, node.did)
      const pairwise = await wallet.pairwiseDid(node.url, node.did)
      const sender = new TestAgent()
      const sent = sender.message(BASIC, { content: alg }, pairwise)
      const inner = await sender.pack(sent, pairwise, sender.did)
      const packed = await sender.pack(forwardTo(pairwise, inner, 'json', node.did), node.did, null, { enc_alg_anon: alg })
      const header = JSON.parse(Buffer.from((JSON.parse(packed) as { protected: string }).protected, 'base64url').toString('utf8')) as { alg: string, enc: string }
      assert.equal(header.alg, 'ECDH-ES+A256KW')
      assert.equal(header.enc, enc)
      const answer = await post(node.url, packed)
      assert.equal(answer.status, 202, answer.text)

      const received = await wallet.pickup(node.url, node.did, { ack: true })
      assert.equal(received.length, 1)
      assert.equal(received[0]?.message.id, sent.id)
    })
  }

  // The DIF demo stamps created_time in milliseconds; replies must still come, in seconds, on the request's thread.
  it('a request with created_time in milliseconds (DIF demo) is answered; the reply has to, from, thid and seconds', async () => {
    const wallet = new TestAgent()
    const request = wallet.message(`${CM3}/mediate-request`, {}, node.did, { created_time: Date.now() })
    const before = Math.floor(Date.now() / 1000)
    const answer = await post(node.url, await wallet.pack(request, node.did))
    assert.equal(answer.status, 200, answer.text)
    const grant = (await wallet.unpack(answer.text)).message
    assert.equal(grant.type, `${CM3}/mediate-grant`)
    // The DIF demo speaks CM 3.0 and reads routing_did[0].
    assert.deepEqual(grant.body.routing_did, [node.did])
    assert.deepEqual(grant.to, [wallet.did])
    assert.equal(grant.from, node.did)
    assert.equal(grant.thid, request.id)
    const created = grant.created_time as number
    assert.equal(Number.isInteger(created), true)
    assert.ok(created >= before - 1 && created <= Math.floor(Date.now() / 1000) + 1, `created_time ${created} is epoch seconds`)

    // A later request in milliseconds too: the mediation keeps working.
    const status = await wallet.request(node.url, node.did, `${PICKUP3}/status-request`, {}, { created_time: Date.now() })
    assert.equal(status.type, `${PICKUP3}/status`)
    assert.equal(status.thid !== undefined, true)
  })

  // Identus polls delivery-request {limit: 10} without recipient_did and expects a status when nothing waits.
  it('pickup 3.0 delivery-request {limit: 10} without recipient_did, nothing queued → status with message_count 0', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did, CM2)
    await wallet.pairwiseDid(node.url, node.did, CM2)
    const request = wallet.message(`${PICKUP3}/delivery-request`, { limit: 10 }, node.did)
    const answer = await post(node.url, await wallet.pack(request, node.did))
    assert.equal(answer.status, 200, answer.text)
    const reply = (await wallet.unpack(answer.text)).message
    assert.equal(reply.type, `${PICKUP3}/status`)
    assert.equal(reply.body.message_count, 0)
    assert.equal(reply.thid, request.id)
    assert.equal(reply.from, node.did)
  })
})

describe('CORS with configured origins', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start({ corsOrigins: ['https://good.example'] }) })
  after(async () => { await nodes.stopAll() })

  // An operator may limit which browser wallets can call the node: only those origins are allowed.
  it('allows the configured origin and no other', async () => {
    const preflight = (origin: string): Promise<RawAnswer> => raw(node.url + '/', 'OPTIONS', {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type'
    })
    const good = await preflight('https://good.example')
    assert.ok(good.status >= 200 && good.status < 300, `preflight status ${good.status}`)
    assert.equal(good.headers['access-control-allow-origin'], 'https://good.example')
    assert.match(String(good.headers['access-control-allow-headers'] ?? '').toLowerCase(), /content-type/)

    const bad = await preflight('https://evil.example')
    const badOrigin = bad.headers['access-control-allow-origin']
    assert.ok(badOrigin === undefined || (badOrigin !== '*' && badOrigin !== 'https://evil.example'), `allow-origin ${String(badOrigin)}`)

    const wallet = new TestAgent()
    const packed = await wallet.pack(wallet.message(`${CM3}/mediate-request`, {}, node.did), node.did)
    const allowed = await raw(node.url + '/', 'POST', { Origin: 'https://good.example', 'content-type': JWE }, packed)
    assert.equal(allowed.status, 200, allowed.text)
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://good.example')

    const other = await raw(node.url + '/', 'POST', { Origin: 'https://evil.example', 'content-type': JWE }, packed)
    const otherOrigin = other.headers['access-control-allow-origin']
    assert.ok(otherOrigin === undefined || (otherOrigin !== '*' && otherOrigin !== 'https://evil.example'), `allow-origin ${String(otherOrigin)}`)
  })
})
