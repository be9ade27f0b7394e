import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mediatorKey } from '../../node/mesh/routes.ts'
import { DIDCOMM_MESH_PROTOCOL } from '../../node/wire.ts'
import { BASIC, TestAgent } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode } from '../helpers/node.ts'
import { connected, receive, startBehindNat, startDhtPeer } from './helpers.ts'
import type { DhtPeer } from './helpers.ts'

const cluster = testNodes('didcomm-mesh-mesh-', { logs: true })
const peers: DhtPeer[] = []
after(async () => {
  for (const peer of peers) await peer.stop()
  await cluster.stopAll()
})

/** A key whose peer ID sorts before `than`: DHT peers list providers in peer-ID order, so J meets the rogue's record first. */
async function keySortingBefore (than: string): Promise<PrivateKey> {
  for (;;) {
    const key = await generateKeyPair('Ed25519')
    if (peerIdFromPrivateKey(key).toString() < than) return key
  }
}

let a: LoggedTestNode
let j: LoggedTestNode
let rogue: DhtPeer
let frames = 0

/** For each DHT peer that answers a provider query for `did`: the providers it lists, in its order. */
async function providerLists (probe: DhtPeer, did: string): Promise<Map<string, string[]>> {
  const lists = new Map<string, string[]>()
  try {
    for await (const event of probe.services.dht.findProviders(await mediatorKey(did), { signal: AbortSignal.timeout(3_000) })) {
      if (event.name === 'PEER_RESPONSE') lists.set(event.from.toString(), event.providers.map(p => p.id.toString()))
    }
  } catch {
    // a partial answer is still an answer
  }
  return lists
}

before(async () => {
  const b = await cluster.start()
  const probe = await startDhtPeer(b.info.multiaddrs[0] as string)
  peers.push(probe)
  // J first, alone with B: it never learns of A until it looks A up.
  j = await startBehindNat(cluster, b, probe)
  a = (await cluster.join(b, [{}]))[0] as LoggedTestNode
  // The rogue: a DHT server like any mesh node, whose peer ID sorts before A's, counting what
  // arrives on the DIDComm relay protocol.
  rogue = await startDhtPeer(b.info.multiaddrs[0] as string, { clientMode: false, privateKey: await keySortingBefore(a.info.peerId) })
  peers.push(rogue)
  await rogue.handle(DIDCOMM_MESH_PROTOCOL, stream => {
    frames++
    stream.abort(new Error('rogue'))
  })
  // The rogue announces A's key until B, the one DHT peer J knows, lists both records, the rogue's
  // first (DHT peers list providers in peer-ID order).
  await waitFor(async () => {
    await rogue.contentRouting.provide(await mediatorKey(a.did), { signal: AbortSignal.timeout(5_000) })
    const list = (await providerLists(probe, a.did)).get(b.info.peerId) ?? []
    const rogueAt = list.indexOf(rogue.peerId.toString())
    return rogueAt !== -1 && rogueAt < list.indexOf(a.info.peerId) ? true : undefined
  }, 20_000, "B to list the rogue's record before A's")
})

// Anyone can announce a provider record for any key: a route is used only when the peer is the one
// the DID document names, so the rogue announcing A's key never receives a message.
it('a rogue provider of A’s mediator key is ignored: the message reaches A, the rogue gets nothing', async () => {
  const { wallet, pairwise } = await TestAgent.mediatedWallet(a)
  const business = new TestAgent()
  await business.mediate(j.url, j.did)

  assert.ok(!connected(j, a), 'J must not be connected to A before it looks A up')
  const msg = business.message(BASIC, { content: 'not for the rogue' }, pairwise)
  const answer = await business.sendThrough(j, msg, pairwise, a.did)
  assert.equal(answer.status, 202, answer.text)

  const got = await receive(wallet, a, msg.id)
  assert.deepEqual(got.message.body, { content: 'not for the rogue' })
  assert.equal(frames, 0, 'the rogue received no DIDComm frame')
  const { routes, outbox } = j.node.info().mesh
  assert.ok(routes.unprovenProviders > 0, `J saw and ignored the rogue's record: ${JSON.stringify(routes)}`)
  assert.ok(routes.lookups['dht-provider'] > 0, `J found A as a proven provider: ${JSON.stringify(routes)}`)
  assert.equal(outbox.delivered, 1)
  assert.equal(outbox.retries, 0, 'no attempt went astray')
})
