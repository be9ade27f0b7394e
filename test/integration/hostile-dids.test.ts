/**
 * Values an attacker chooses — key ids, DIDs with huge documents or thousands of keys, a `from` that
 * is not the sender, a captured request sent again — cost a bounded amount of memory and work, and
 * are refused with a clear problem report. Nothing in the logs names a DID in full.
 */
import assert from 'node:assert/strict'
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { packAuthcrypt } from '../../didcomm/authcrypt.ts'
import { createPeerDid2 } from '../../didcomm/resolver.ts'
import { CM3, PICKUP3, TestAgent, post, sendTo, sharedResolver, wrapForward } from '../helpers/client.ts'
import { startTestNodeWithLogs, testNodes } from '../helpers/node.ts'
import type { LoggedTestNode, TestNode } from '../helpers/node.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url')

/** Heap growth in MB across `work`, after a full collection on both sides. */
async function heapGrowthMb (work: () => Promise<void>): Promise<number> {
  gc()
  const before = process.memoryUsage().heapUsed
  await work()
  gc()
  return (process.memoryUsage().heapUsed - before) / 1024 / 1024
}

/** A did:peer:2 with `keys` random X25519 keyAgreement keys: ~49 characters a key. */
function manyKeyDid (keys: number): string {
  return createPeerDid2({ keyAgreement: Array.from({ length: keys }, () => randomBytes(32)), authentication: [] })
}

/**
 * An anoncrypt-shaped JWE to one recipient `kid` whose apv matches (as a sender chooses it), with
 * a random key and ciphertext: whoever holds the kid's key gets as far as trying to decrypt it.
 */
function jweTo (kid: string): string {
  const epk = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' })
  const header = { typ: 'application/didcomm-encrypted+json', alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512', apv: b64url(createHash('sha256').update(kid).digest()), epk }
  return JSON.stringify({
    protected: b64url(JSON.stringify(header)),
    recipients: [{ header: { kid }, encrypted_key: b64url(randomBytes(72)) }],
    iv: b64url(randomBytes(16)),
    ciphertext: b64url(randomBytes(64)),
    tag: b64url(randomBytes(32))
  })
}

describe('hostile DIDs and key ids', () => {
  const nodes = testNodes()
  let node: TestNode

  before(async () => { node = await nodes.start() })
  after(async () => { await nodes.stopAll() })

  it('40 requests to key ids that only start with the node\'s DID are refused and leave no memory behind', async () => {
    const junk = 'x'.repeat(900_000)
    let statuses: number[] = []
    const growth = await heapGrowthMb(async () => {
      for (let i = 0; i < 40; i++) {
        const kid = `${node.did}${i % 2 === 0 ? '/' : '?'}${i}${junk}#key-1`
        statuses.push((await post(node.url, jweTo(kid))).status)
      }
    })
    statuses = [...new Set(statuses)]
    assert.deepEqual(statuses, [400])
    // Each would be ~0.9 MB kept under its key id if it counted as ours.
    assert.ok(growth < 12, `heap grew ${growth.toFixed(1)} MB`)
    assert.equal((await fetch(`${node.url}/health`)).status, 200)
  })

  it('20 forwards naming different 300 KB DIDs as next are refused and leave no memory behind', async () => {
    const sender = new TestAgent()
    const { pairwise } = await TestAgent.mediatedWallet(node)
    const inner = await sender.pack(sender.message('https://didcomm.org/basicmessage/2.0/message', { content: 'x' }, pairwise), pairwise, sender.did)
    const forwards = await Promise.all(Array.from({ length: 20 }, async () => await wrapForward(sender, inner, manyKeyDid(6000), node.did, null)))
    const statuses: number[] = []
    const growth = await heapGrowthMb(async () => {
      for (const forward of forwards) statuses.push((await post(node.url, forward)).status)
    })
    for (const status of statuses) assert.ok(status >= 400 && status < 500, `status ${status}`)
    assert.ok(growth < 16, `heap grew ${growth.toFixed(1)} MB`)
  })

  it('recipient DIDs of 4,000 or 100 keys are refused at once while /health stays responsive', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const started = Date.now()
    // ~200 KB: past the length any DID may have, so the request body itself is refused.
    const huge = post(node.url, await wallet.pack(wallet.message(`${CM3}/recipient-update`, { updates: [{ recipient_did: manyKeyDid(4000), action: 'add' }] }, node.did), node.did))
    const health = fetch(`${node.url}/health`, { signal: AbortSignal.timeout(5000) })
    const answer = await huge
    assert.equal(answer.status, 400)
    assert.equal((await wallet.unpack(answer.text)).message.body.code, 'e.p.msg.malformed')
    assert.equal((await health).status, 200)
    // ~5 KB: a DID of acceptable length, but with more keys than any DID may hold.
    const reply = await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: manyKeyDid(100), action: 'add' }] })
    assert.deepEqual((reply.body.updated as Array<{ result: string }>).map(u => u.result), ['client_error'])
    // Unbounded, the per-key work took ~100 s for 4,000 keys; bounded, it is a length or count check.
    assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`)
  })

  it('a message whose from is not the DID that authcrypted it is refused', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const impostor = new TestAgent()
    // didcomm-node will not pack such a message, so it is authcrypted here by hand, as an attacker would.
    const nodeKey = (await sharedResolver.resolve(node.did))?.verificationMethod.find(vm => vm.id === `${node.did}#key-1`)
    const senderJwk = wallet.secrets.get(`${wallet.did}#key-1`)?.privateKeyJwk
    assert.ok(nodeKey !== undefined && senderJwk !== undefined)
    const keys = {
      senderKid: `${wallet.did}#key-1`,
      senderKey: createPrivateKey({ key: senderJwk, format: 'jwk' }),
      recipients: [{ kid: nodeKey.id, key: createPublicKey({ key: nodeKey.publicKeyJwk, format: 'jwk' }) }]
    }
    const message = (from: string): string => JSON.stringify({ ...wallet.message(`${PICKUP3}/status-request`, {}, node.did), from, typ: 'application/didcomm-plain+json' })
    assert.equal((await post(node.url, packAuthcrypt(message(wallet.did), keys))).status, 200, 'the hand-made JWE is sound')
    const answer = await post(node.url, packAuthcrypt(message(impostor.did), keys))
    assert.equal(answer.status, 400)
    assert.equal(JSON.parse(answer.text).body.code, 'e.p.trust.crypto.sender-mismatch')
  })

  it('an authcrypted request sent again is refused, and so is one stamped far outside the window', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    const packed = await wallet.pack(wallet.message(`${CM3}/recipient-update`, { updates: [{ recipient_did: pairwise, action: 'remove' }] }, node.did), node.did)
    assert.equal((await post(node.url, packed)).status, 200)
    // The client adds it back; the captured remove, sent again, must not take it away.
    assert.equal(await wallet.pairwiseDid(node.url, node.did).then(() => 'ok'), 'ok')
    const again = await post(node.url, packed)
    assert.equal(again.status, 409)
    assert.equal((await wallet.unpack(again.text)).message.body.code, 'e.p.msg.replay')

    const stale = wallet.message(`${PICKUP3}/status-request`, {}, node.did, { created_time: Math.floor(Date.now() / 1000) - 3600 })
    const answer = await post(node.url, await wallet.pack(stale, node.did))
    assert.equal(answer.status, 400)
    assert.equal((await wallet.unpack(answer.text)).message.body.code, 'e.p.msg.stale')
  })
})

describe('logs', () => {
  let node: LoggedTestNode
  before(async () => { node = await startTestNodeWithLogs({ logLevel: 'debug' }) })
  after(async () => { await node.stop() })

  it('at debug level, no line carries a full DID', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    await sendTo(node, pairwise, 'hello')
    await wallet.pickup(node.url, node.did, { ack: true })
    // Refusals whose comments would name DIDs: an unknown next, a pickup for a DID not held, a bad recipient.
    const stranger = new TestAgent()
    const unknownNext = await wrapForward(stranger, await stranger.pack(stranger.message('x', {}, stranger.did), stranger.did, null), stranger.newDid(), node.did, null)
    assert.ok((await post(node.url, unknownNext)).status >= 400)
    await assert.rejects(wallet.request(node.url, node.did, `${PICKUP3}/status-request`, { recipient_did: stranger.did }))
    await wallet.request(node.url, node.did, `${CM3}/recipient-update`, { updates: [{ recipient_did: 'did:peer:2.Ebroken', action: 'add' }] })

    const logs = node.logs()
    assert.ok(logs.includes('"msg":"refused"'), 'refusals were logged')
    for (const did of [node.did, wallet.did, pairwise, stranger.did]) {
      assert.ok(!logs.includes(did), 'a full DID in the logs')
      // Nor any long slice of one (the old short form kept its first 14 and last 6 characters).
      assert.ok(!logs.includes(did.slice(0, 20)), 'a DID prefix in the logs')
    }
    assert.doesNotMatch(logs, /did:peer:2\.[EVS]/)
  })
})
