/**
 * The node's envelope against JWEs made by Veramo 7 itself (its did-comm packer, not a copy of its
 * algorithm): every form Veramo makes is opened, replies in the legacy dialect are opened by Veramo,
 * and what the standard path checks still holds: the sender key must be a keyAgreement key of the
 * DID that `skid` names and must be the one that encrypted, the recipient must be ours, fields are
 * bounded before any work, and a changed byte fails.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, it } from 'node:test'
import type { IDIDCommMessage } from '@veramo/did-comm'
import { EnvelopeError, createEnvelope } from '../../didcomm/envelope.ts'
import type { Envelope } from '../../didcomm/envelope.ts'
import { base64url, fromBase64url } from '../../didcomm/jose.ts'
import type { JweJson } from '../../didcomm/jose.ts'
import { createDidIdentity, generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { LEGACY_LIMITS } from '../../didcomm/legacy-jwe/open.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { peerDid, veramo } from '../veramo/agent.ts'
import type { VeramoAgent } from '../veramo/agent.ts'

const PING = 'https://didcomm.org/trust-ping/2.0/ping'

/** A node-like party: its did:peer:2, and envelopes with the legacy dialect on and off. */
function nodeParty (): { did: string, envelope: Envelope, strict: Envelope } {
  const keys = { keyAgreement: generateOkpKey('X25519'), authentication: generateOkpKey('Ed25519') }
  const did = peerDid2For(keys.keyAgreement, keys.authentication, [{ uri: 'http://127.0.0.1:1', accept: ['didcomm/v2'] }])
  const identity = createDidIdentity(keys, [did])
  return { did, envelope: createEnvelope(createResolver(), identity.secret, { legacyJwe: true }), strict: createEnvelope(createResolver(), identity.secret) }
}

function ping (from: string | undefined, to: string): IDIDCommMessage {
  return { id: randomUUID(), type: PING, ...(from === undefined ? {} : { from }), to: [to], created_time: new Date().toISOString(), body: { response_requested: true } }
}

async function packed (agent: VeramoAgent, message: IDIDCommMessage, packing: 'authcrypt' | 'anoncrypt', enc?: string): Promise<JweJson> {
  const { message: text } = await agent.packDIDCommMessage({ message, packing, ...(enc === undefined ? {} : { options: { enc } }) } as never)
  return JSON.parse(text) as JweJson
}

async function unpackError (envelope: Envelope, jwe: JweJson): Promise<string> {
  try {
    await envelope.unpack(JSON.stringify(jwe))
  } catch (err) {
    assert.ok(err instanceof EnvelopeError, `an EnvelopeError, not ${String(err)}`)
    return err.message
  }
  throw new Error('unpacked')
}

function withHeader (jwe: JweJson, change: (header: Record<string, unknown>) => void): JweJson {
  const header = JSON.parse(fromBase64url(jwe.protected).toString('utf8')) as Record<string, unknown>
  change(header)
  return { ...jwe, protected: base64url(Buffer.from(JSON.stringify(header))) }
}

describe('the legacy JWE dialect (Veramo 7)', () => {
  const node = nodeParty()
  let alice: VeramoAgent
  let aliceDid: string
  let mallory: VeramoAgent
  let malloryDid: string

  before(async () => {
    alice = veramo().agent
    aliceDid = (await peerDid(alice)).did
    mallory = veramo().agent
    malloryDid = (await peerDid(mallory)).did
  })

  for (const enc of ['A256GCM', 'A256CBC-HS512', 'XC20P']) {
    it(`opens Veramo's authcrypt (ECDH-1PU draft 03, no apu/apv) with ${enc} content, naming the sender`, async () => {
      const message = ping(aliceDid, node.did)
      const jwe = await packed(alice, message, 'authcrypt', enc)
      const header = JSON.parse(fromBase64url(jwe.protected).toString('utf8')) as Record<string, unknown>
      assert.deepEqual({ alg: header.alg, enc: header.enc, apu: header.apu, apv: header.apv }, { alg: 'ECDH-1PU+A256KW', enc, apu: undefined, apv: undefined })
      const unpacked = await node.envelope.unpack(JSON.stringify(jwe))
      assert.equal(unpacked.message.id, message.id)
      assert.equal(unpacked.sender, aliceDid)
      assert.equal(unpacked.dialect, 'legacy')
      assert.deepEqual(unpacked.recipientKids, [`${node.did}#key-1`])
    })

    it(`opens Veramo's anoncrypt (no apv) with ${enc} content, with no sender`, async () => {
      const message = ping(undefined, node.did)
      const unpacked = await node.envelope.unpack(JSON.stringify(await packed(alice, message, 'anoncrypt', enc)))
      assert.equal(unpacked.message.id, message.id)
      assert.equal(unpacked.sender, undefined)
      assert.equal(unpacked.dialect, 'legacy')
    })
  }

  it('a reply packed in the dialect is opened by Veramo as authcrypt from the node', async () => {
    const reply = { id: randomUUID(), type: 'https://didcomm.org/trust-ping/2.0/ping-response', from: node.did, to: [aliceDid], body: {} }
    const text = await node.envelope.pack(reply, aliceDid, node.did, { dialect: 'legacy' })
    const header = JSON.parse(fromBase64url((JSON.parse(text) as JweJson).protected).toString('utf8')) as Record<string, unknown>
    assert.deepEqual({ alg: header.alg, enc: header.enc, skid: header.skid, apu: header.apu }, { alg: 'ECDH-1PU+A256KW', enc: 'A256GCM', skid: `${node.did}#key-1`, apu: undefined })
    const opened = await alice.unpackDIDCommMessage({ message: text })
    assert.equal(opened.message.id, reply.id)
    assert.equal(opened.metaData.packing, 'authcrypt')
  })

  it('is refused when the dialect is turned off', async () => {
    await unpackError(node.strict, await packed(alice, ping(aliceDid, node.did), 'authcrypt'))
    await unpackError(node.strict, await packed(alice, ping(undefined, node.did), 'anoncrypt'))
  })

  it('refuses a changed byte of the content', async () => {
    const jwe = await packed(alice, ping(aliceDid, node.did), 'authcrypt')
    const ciphertext = fromBase64url(jwe.ciphertext)
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 1
    await unpackError(node.envelope, { ...jwe, ciphertext: base64url(ciphertext) })
  })

  it('refuses a skid that is not a keyAgreement key of its DID (the Ed25519 authentication key)', async () => {
    const jwe = withHeader(await packed(alice, ping(aliceDid, node.did), 'authcrypt'), header => { header.skid = `${aliceDid}#key-2` })
    assert.match(await unpackError(node.envelope, jwe), /keyAgreement/)
  })

  it('refuses a message whose skid names another sender than the one whose key encrypted it', async () => {
    // Mallory encrypts and claims to be Alice: Alice's key is a valid keyAgreement key, but it is not the one in the KDF.
    const jwe = withHeader(await packed(mallory, ping(malloryDid, node.did), 'authcrypt'), header => { header.skid = `${aliceDid}#key-1` })
    await unpackError(node.envelope, jwe)
  })

  it('refuses authcrypt with a recipient of another DID: that co-recipient holds the content key and could forge as the sender', async () => {
    const message = { ...ping(aliceDid, node.did), to: [node.did, malloryDid] }
    const jwe = await packed(alice, message, 'authcrypt')
    assert.equal(jwe.recipients.length, 2)
    assert.match(await unpackError(node.envelope, jwe), /recipients of one DID/)
    // Anoncrypt names no sender: nothing to forge, so several recipients are fine there.
    const anon = await packed(alice, { ...ping(undefined, node.did), to: [node.did, malloryDid] }, 'anoncrypt')
    assert.equal((await node.envelope.unpack(JSON.stringify(anon))).sender, undefined)
  })

  it('leaves a JWE to keys that are not ours unopened', async () => {
    const other = nodeParty()
    await unpackError(node.envelope, await packed(alice, ping(aliceDid, other.did), 'authcrypt'))
  })

  it('bounds the recipients and the length of each field before any key lookup', async () => {
    const jwe = await packed(alice, ping(aliceDid, node.did), 'authcrypt')
    const recipient = jwe.recipients[0] as JweJson['recipients'][number]
    const many = { ...jwe, recipients: Array.from({ length: LEGACY_LIMITS.maxRecipients + 1 }, () => recipient) }
    assert.match(await unpackError(node.envelope, many), /recipients/)
    const longKey = { ...jwe, recipients: [{ ...recipient, encrypted_key: 'A'.repeat(LEGACY_LIMITS.maxEncryptedKeyChars + 1) }] }
    assert.match(await unpackError(node.envelope, longKey), /longer than/)
    const longKid = { ...jwe, recipients: [{ header: { kid: `${node.did}#${'k'.repeat(LEGACY_LIMITS.maxKidChars)}` }, encrypted_key: recipient.encrypted_key }] }
    assert.match(await unpackError(node.envelope, longKid), /longer than/)
    const longIv = { ...jwe, iv: 'A'.repeat(LEGACY_LIMITS.maxIvChars + 1) }
    assert.match(await unpackError(node.envelope, longIv), /longer than/)
  })
})
