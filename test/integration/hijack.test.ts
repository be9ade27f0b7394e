/**
 * A mediated client tries to take over what another holds: the other form of its did:peer:4, the
 * did:key alias of its key, another client's own DID, mediator DIDs. Each attempt is refused, and
 * mail for the victim still reaches the victim and nobody else.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { didKeyFromX25519 } from '../../didcomm/multikey.ts'
import { createPeerDid2 } from '../../didcomm/resolver.ts'
import { BASIC, CM2, CM3, TestAgent, peerDid4, post, sendTo, wrapForward } from '../helpers/client.ts'
import { testNodes } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

describe('no client can take over another\'s recipients', () => {
  const nodes = testNodes()
  let node: TestNode
  let otherMediator: TestNode

  before(async () => {
    node = await nodes.start()
    otherMediator = await nodes.start()
  })
  after(async () => { await nodes.stopAll() })

  /** `agent` adds (or removes) `dids` with coordinate-mediation `version`; the result of each. */
  const update = async (agent: TestAgent, dids: string[], action: 'add' | 'remove' = 'add', version: typeof CM2 | typeof CM3 = CM3): Promise<string[]> => {
    const type = version === CM2 ? `${CM2}/keylist-update` : `${CM3}/recipient-update`
    const reply = await agent.request(node.url, node.did, type, { updates: dids.map(recipient_did => ({ recipient_did, action })) })
    return (reply.body.updated as Array<{ result: string }>).map(u => u.result)
  }

  /** A basic message for `recipient` in a forward whose `next` is `next` (an alias, say), posted anonymously. */
  const forwardAs = async (recipient: string, next: string, content: string): Promise<string> => {
    const sender = new TestAgent()
    const message = sender.message(BASIC, { content }, recipient)
    const packed = await sender.pack(message, recipient, sender.did)
    const answer = await post(node.url, await wrapForward(sender, packed, next, node.did, null))
    assert.equal(answer.status, 202, answer.text)
    return message.id
  }

  const contents = async (agent: TestAgent): Promise<unknown[]> =>
    (await agent.pickup(node.url, node.did, { ack: true })).map(r => r.message.body.content).sort()

  it('did:peer:4: the short form of another client\'s long form is refused, and mail to either form reaches the holder', async () => {
    const victim = await TestAgent.mediatedWallet(node)
    const long = peerDid4(victim.wallet, node.did)
    assert.deepEqual(await update(victim.wallet, [long.did]), ['success'])

    const attacker = await TestAgent.mediatedWallet(node)
    assert.deepEqual(await update(attacker.wallet, [long.short]), ['client_error'])
    // A bare short form is refused even when nobody holds the long form: anyone can name one.
    const unclaimed = peerDid4(attacker.wallet, node.did)
    assert.deepEqual(await update(attacker.wallet, [unclaimed.short]), ['client_error'])

    await forwardAs(long.did, long.did, 'to the long form')
    await forwardAs(long.did, long.short, 'to the short form')
    assert.deepEqual(await contents(attacker.wallet), [])
    assert.deepEqual(await contents(victim.wallet), ['to the long form', 'to the short form'])
  })

  for (const version of [CM2, CM3] as const) {
    it(`coordinate-mediation ${version.slice(-3)}: a DID reusing another client's key cannot take its did:key alias, nor delete it`, async () => {
      const victim = await TestAgent.mediatedWallet(node)
      const victimKey = Buffer.from(victim.wallet.secrets.get(`${victim.pairwise}#key-1`)?.privateKeyJwk.x ?? '', 'base64url')
      const alias = didKeyFromX25519(victimKey)

      const attacker = await TestAgent.mediatedWallet(node)
      // The victim's public X25519 key with the attacker's own Ed25519 key: a different DID, the same alias.
      const ownKey = Buffer.from(attacker.wallet.secrets.get(`${attacker.pairwise}#key-2`)?.privateKeyJwk.x ?? '', 'base64url')
      const copycat = createPeerDid2({ keyAgreement: [victimKey], authentication: [ownKey], services: [{ uri: node.did }] })
      assert.deepEqual(await update(attacker.wallet, [copycat, alias], 'add', version), ['client_error', 'client_error'])
      // Removing what it never got changes nothing for the victim.
      assert.deepEqual(await update(attacker.wallet, [copycat], 'remove', version), ['no_change'])

      await forwardAs(victim.pairwise, alias, 'to the did:key alias')
      assert.deepEqual(await contents(attacker.wallet), [])
      assert.deepEqual(await contents(victim.wallet), ['to the did:key alias'])
    })
  }

  it('mediator DIDs, this node\'s own DID and DIDs holding a mediation are refused as recipients', async () => {
    const victim = await TestAgent.mediatedWallet(node)
    const attacker = await TestAgent.mediatedWallet(node)
    const results = await update(attacker.wallet, [node.did, otherMediator.did, victim.wallet.did, attacker.wallet.did])
    assert.deepEqual(results, ['client_error', 'client_error', 'client_error', 'client_error'])

    // A problem report the node queues for the victim (its own mailbox) stays the victim's.
    await sendTo(node, victim.pairwise, 'hello')
    assert.deepEqual(await contents(attacker.wallet), [])
    assert.deepEqual(await contents(victim.wallet), ['hello'])
  })

  it('a DID another client holds as a recipient cannot ask for mediation', async () => {
    const squatter = await TestAgent.mediatedWallet(node)
    const someone = new TestAgent()
    assert.deepEqual(await update(squatter.wallet, [someone.did]), ['success'])
    const answer = await someone.mediate(node.url, node.did)
    assert.equal(answer.type, `${CM3}/mediate-deny`)
    // Nor did it get one: pickup still says not enrolled.
    const status = someone.message('https://didcomm.org/messagepickup/3.0/status-request', {}, node.did)
    const refused = await post(node.url, await someone.pack(status, node.did))
    assert.equal(refused.status, 403)
    assert.equal((await someone.unpack(refused.text)).message.body.code, 'e.p.req.not-enrolled')
  })

  it('concurrent recipient-updates of one client stay within max-recipients-per-client', async () => {
    const small = await nodes.start({ maxRecipientsPerClient: 3 })
    const { wallet } = await TestAgent.mediatedWallet(small)
    const add = async (): Promise<string[]> => {
      const dids = [wallet.newDid(small.did), wallet.newDid(small.did)]
      const reply = await wallet.request(small.url, small.did, `${CM3}/recipient-update`, { updates: dids.map(recipient_did => ({ recipient_did, action: 'add' })) })
      return (reply.body.updated as Array<{ result: string }>).map(u => u.result)
    }
    const results = (await Promise.all([add(), add(), add()])).flat()
    // One held already (the pairwise DID TestAgent.mediatedWallet registered): two more fit, whoever asks first.
    assert.equal(results.filter(r => r === 'success').length, 2, results.join(','))
    const listed = await wallet.request(small.url, small.did, `${CM3}/recipient-query`, {})
    assert.equal((listed.body.dids as unknown[]).length, 3)
  })

  it('concurrent claims of one DID by two clients leave exactly one holder', async () => {
    const first = await TestAgent.mediatedWallet(node)
    const second = await TestAgent.mediatedWallet(node)
    const contested = first.wallet.newDid(node.did)
    for (const [kid, secret] of first.wallet.secrets) if (kid.startsWith(contested)) second.wallet.secrets.set(kid, secret)
    const results = await Promise.all([update(first.wallet, [contested]), update(second.wallet, [contested])])
    assert.deepEqual(results.flat().sort(), ['client_error', 'success'])
    const id = await forwardAs(contested, contested, randomUUID())
    const got = [...await first.wallet.pickup(node.url, node.did, { ack: true }), ...await second.wallet.pickup(node.url, node.did, { ack: true })]
    assert.deepEqual(got.map(r => r.message.id), [id])
  })
})
