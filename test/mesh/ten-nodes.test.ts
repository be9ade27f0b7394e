import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BASIC, TestAgent, post, wrapForward } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode } from '../helpers/node.ts'
import { connected, identifying, leaksIn, leaksInDir, providedNow, receive, startBehindNat, startDhtPeer, timeUntil } from './helpers.ts'
import type { DhtPeer } from './helpers.ts'

/**
 * Ten nodes that know each other only through the mesh DHT: every node is bootstrapped to node 0.
 * The business's node J is "behind NAT" (it dials out, nobody dials it) and joined first: it has no
 * connection to A, the wallet's home node, until it looks A up.
 */
describe('a mesh of ten nodes', () => {
  const cluster = testNodes('didcomm-mesh-mesh-', { logs: true })
  const E = 4
  const A = 7
  let nodes: LoggedTestNode[]
  let probe: DhtPeer | undefined
  let a: LoggedTestNode
  let e: LoggedTestNode
  let j: LoggedTestNode
  const wallet = new TestAgent()
  const business = new TestAgent()
  let walletPairwise: string
  let businessPairwise: string

  before(async () => {
    const first = await cluster.start()
    // A DHT client outside the mesh, to tell when the DHT holds a record.
    probe = await startDhtPeer(first.info.multiaddrs[0] as string)
    // J joins while the mesh is just node 0, so it knows no other node until it looks one up.
    j = await startBehindNat(cluster, first, probe)
    nodes = [first, j, ...await cluster.join(first, Array.from({ length: 8 }, () => ({})))] // J is node 1
    a = nodes[A] as LoggedTestNode
    e = nodes[E] as LoggedTestNode
    // Measure on a settled mesh: until A's provide is done, a lookup falls back to finding its peer ID.
    await waitFor(async () => await providedNow(probe as DhtPeer, a) ? true : undefined, 20_000, "A's provider record")
    await wallet.mediate(a.url, a.did)
    walletPairwise = await wallet.pairwiseDid(a.url, a.did)
    await business.mediate(j.url, j.did)
    businessPairwise = await business.pairwiseDid(j.url, j.did)
  })
  after(async () => {
    await probe?.stop()
    await cluster.stopAll()
  })

  /** Business → wallet: the didcomm library's forward for A, inside one forward for J from the business's client DID. */
  async function viaJ (content: string): Promise<{ id: string, answer: Awaited<ReturnType<typeof post>> }> {
    const msg = business.message(BASIC, { content }, walletPairwise, { from: businessPairwise })
    const forA = await business.pack(msg, walletPairwise, businessPairwise, { forward: true, protect_sender: true })
    const forJ = await wrapForward(business, forA, a.did, j.did, business.did)
    return { id: msg.id, answer: await post(j.url, forJ) }
  }

  it('J finds A through the DHT and relays; the wallet picks up an authenticated, intact message', async () => {
    assert.ok(!connected(j, a), 'J must not be connected to A before it looks A up')
    const cold = await viaJ('cold route')
    assert.equal(cold.answer.status, 202, cold.answer.text)
    const coldMs = await timeUntil(() => j.node.info().mesh.outbox.delivered >= 1, 20_000, 'the first relay from J')
    const got = await receive(wallet, a, cold.id)
    assert.equal(got.authenticated, true)
    assert.equal(got.message.from, businessPairwise)
    assert.ok(got.fromKid?.startsWith(businessPairwise + '#'), got.fromKid)
    assert.deepEqual(got.message.body, { content: 'cold route' })

    const { lookups } = j.node.info().mesh.routes
    assert.ok(lookups['dht-provider'] + lookups['dht-peer'] > 0, `J's route to A came from the DHT: ${JSON.stringify(lookups)}`)
    assert.equal(lookups.connected, 0, `J had no connection to A: ${JSON.stringify(lookups)}`)

    const warm = await viaJ('warm route')
    assert.equal(warm.answer.status, 202, warm.answer.text)
    const warmMs = await timeUntil(() => j.node.info().mesh.outbox.delivered >= 2, 20_000, 'the second relay from J')
    assert.deepEqual((await receive(wallet, a, warm.id)).message.body, { content: 'warm route' })
    console.log(`[ten-nodes] J → A relay, accepted by A: cold route (DHT lookup + dial) ${coldMs.toFixed(0)} ms, warm ${warmMs.toFixed(0)} ms; J lookups ${JSON.stringify(lookups)}, relay retries ${j.node.info().mesh.outbox.retries}`)
  })

  it('a three-layer path J → E → A: anoncrypted layer for E, authcrypted layer for J', async () => {
    const before = { j: j.node.info().mesh.outbox.delivered, e: e.node.info().mesh.outbox.delivered }
    const msg = business.message(BASIC, { content: 'two mesh hops' }, walletPairwise, { from: businessPairwise })
    const forA = await business.pack(msg, walletPairwise, businessPairwise, { forward: true, protect_sender: true })
    const forE = await wrapForward(business, forA, a.did, e.did, null)
    const forJ = await wrapForward(business, forE, e.did, j.did, business.did)
    const answer = await post(j.url, forJ)
    assert.equal(answer.status, 202, answer.text)
    const got = await receive(wallet, a, msg.id)
    assert.equal(got.authenticated, true)
    assert.equal(got.message.from, businessPairwise)
    assert.deepEqual(got.message.body, { content: 'two mesh hops' })
    // A relay counts as delivered when the next hop's acknowledgement arrives, which may come after the wallet has the message.
    const settled = await waitFor(() => {
      const now = { j: j.node.info().mesh.outbox.delivered, e: e.node.info().mesh.outbox.delivered }
      return now.j > before.j && now.e > before.e && e.node.info().mesh.outbox.depth === 0 ? now : undefined
    }, 10_000, 'both relays acknowledged')
    assert.deepEqual(settled, { j: before.j + 1, e: before.e + 1 }, 'J relayed to E once, E to A once')
  })

  it("J's data and logs never show the wallet; A's and E's never show the business", async () => {
    const unrelated = [a.did, e.did, j.did, ...nodes.map(n => n.did), new TestAgent().newDid(a.did), new TestAgent().newDid(j.did), new TestAgent().newDid()]
    const walletSecrets = { "wallet's pairwise DID and keys": identifying(wallet, walletPairwise, unrelated) }
    const businessSecrets = {
      "business's client DID and keys": identifying(business, business.did, unrelated),
      "business's pairwise DID and keys": identifying(business, businessPairwise, unrelated)
    }
    for (const node of [a, e, j]) await node.stop()

    // The scanner finds what each node does hold: the wallet in A's keylist, the business in J's mediations.
    assert.notDeepEqual(await leaksInDir(a.config.dataDir, walletSecrets), [], 'positive control: A holds the wallet DID')
    assert.notDeepEqual(await leaksInDir(j.config.dataDir, businessSecrets), [], 'positive control: J holds the business DIDs')

    assert.deepEqual(await leaksInDir(j.config.dataDir, walletSecrets), [])
    assert.deepEqual(leaksIn(j.logs(), walletSecrets), [])
    assert.deepEqual(await leaksInDir(a.config.dataDir, businessSecrets), [])
    assert.deepEqual(leaksIn(a.logs(), businessSecrets), [])
    assert.deepEqual(await leaksInDir(e.config.dataDir, { ...walletSecrets, ...businessSecrets }), [])
    assert.deepEqual(leaksIn(e.logs(), { ...walletSecrets, ...businessSecrets }), [])
    assert.ok(j.logs().length > 0 && a.logs().length > 0, 'debug logs were captured')
  })
})
