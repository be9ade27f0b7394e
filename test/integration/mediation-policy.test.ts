import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { mintInvitationToken } from '../../protocols/coordinate-mediation/invitation-token.ts'
import { loadOrCreateNodeKeys, nodeSecret } from '../../storage/node-key-file.ts'
import { CM2, CM3, PICKUP3, TestAgent, sendTo } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const DAY_MS = 86_400_000

/** A token as `didcomm-mesh invite` mints it, from the node's own key file. */
async function tokenFor (node: TestNode, expiresAt = Date.now() + DAY_MS): Promise<string> {
  return mintInvitationToken(nodeSecret(await loadOrCreateNodeKeys(node.config.dataDir), 'invite'), expiresAt)
}

/** A new client's mediate-request, referring to `token` as an invitation's id (pthid) when given; the reply's type. */
async function ask (node: TestNode, token?: string, version: typeof CM2 | typeof CM3 = CM3): Promise<string> {
  const reply = await new TestAgent().request(node.url, node.did, `${version}/mediate-request`, {}, token === undefined ? {} : { pthid: token })
  return reply.type.slice(version.length + 1)
}

describe('mediation policy: open, invite, closed', () => {
  const nodes = testNodes()
  after(async () => { await nodes.stopAll() })

  // Proves invite mode grants only against a token this node minted, unexpired and unused (even by a second DID), on both protocol versions.
  it('invite: no token, a forged and an expired token are denied; a valid token grants once', async () => {
    const node = await nodes.start({ mediation: 'invite' })
    assert.equal(await ask(node), 'mediate-deny', 'no token')
    assert.equal(await ask(node, 'not-a-token'), 'mediate-deny', 'not a token')

    const valid = await tokenFor(node)
    const bytes = Buffer.from(valid, 'base64url')
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    assert.equal(await ask(node, bytes.toString('base64url')), 'mediate-deny', 'a bad MAC')
    const otherNode = await nodes.start()
    assert.equal(await ask(node, await tokenFor(otherNode)), 'mediate-deny', "another node's token")
    assert.equal(await ask(node, await tokenFor(node, Date.now() - 1000)), 'mediate-deny', 'expired')

    const wallet = new TestAgent()
    const grant = await wallet.request(node.url, node.did, `${CM2}/mediate-request`, {}, { pthid: valid })
    assert.equal(grant.type, `${CM2}/mediate-grant`)
    // The granted client asks again (a wallet re-running its setup): still granted, no token needed.
    assert.equal((await wallet.mediate(node.url, node.did)).type, `${CM3}/mediate-grant`)
    assert.equal(await ask(node, valid), 'mediate-deny', 'the same token from another DID')
    // The denied attempts used nothing up: a fresh token still works.
    assert.equal(await ask(node, await tokenFor(node)), 'mediate-grant')
  })

  // Proves a used token is recorded durably: after a restart it is still refused.
  it('invite: a used token stays used across a restart', async () => {
    const node = await nodes.start({ mediation: 'invite' })
    const token = await tokenFor(node)
    assert.equal(await ask(node, token), 'mediate-grant')
    const restarted = await node.restart()
    assert.equal(await ask(restarted, token), 'mediate-deny')
  })

  // Proves two requests racing with one token get one grant between them.
  it('invite: one token, two concurrent requests: one grant', async () => {
    const node = await nodes.start({ mediation: 'invite' })
    const token = await tokenFor(node)
    const answers = await Promise.all([ask(node, token), ask(node, token), ask(node, token)])
    assert.deepEqual(answers.sort(), ['mediate-deny', 'mediate-deny', 'mediate-grant'])
  })

  // Proves closed mode refuses new clients while a client granted before keeps receiving and picking up.
  it('closed: a new client is denied, an existing one still picks up', async () => {
    const open = await nodes.start()
    const wallet = new TestAgent()
    await wallet.mediate(open.url, open.did)
    const pairwise = await wallet.pairwiseDid(open.url, open.did)
    await open.stop()
    const node = await nodes.start({ dataDir: open.config.dataDir, httpPort: Number(new URL(open.url).port), mediation: 'closed' })
    assert.equal(node.did, open.did)

    assert.equal(await ask(node), 'mediate-deny')
    assert.equal(await ask(node, await tokenFor(node)), 'mediate-deny', 'tokens do not open a closed node')
    const sent = await sendTo(node, pairwise, 'still served')
    const received = await wallet.pickup(node.url, node.did, { version: PICKUP3, ack: true })
    assert.deepEqual(received.map(r => r.message.id), [sent.id])
  })

  // Proves open mode (the default) grants without any token, and ignores a pthid it cannot read.
  it('open: anyone is granted', async () => {
    const node = await nodes.start()
    assert.equal(await ask(node), 'mediate-grant')
    assert.equal(await ask(node, 'anything'), 'mediate-grant')
  })
})
