/**
 * What one DHT peer can make a node store or dial: provider records (ADD_PROVIDER) are bounded per
 * providing peer, values (PUT_VALUE) are refused, and on a public mesh (privateAddresses false) the
 * loopback addresses a peer announces, in identify or in its provider records, are neither stored
 * nor dialled.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Provider } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import { toString } from 'uint8arrays'
import { createMeshLibp2p } from '../../node/libp2p.ts'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { mediatorKey } from '../../node/mesh/routes.ts'
import { PROVIDER_QUOTA } from '../../node/provider-quota.ts'
import { tempDir, waitFor } from '../helpers/node.ts'
import { startDhtPeer } from './helpers.ts'
import type { DhtPeer } from './helpers.ts'

let dir: Awaited<ReturnType<typeof tempDir>>
let datastore: LevelDatastore
let node: MeshLibp2p
let rogue: DhtPeer

/** The provider records `node` keeps for `peer`. */
async function recordsOf (peer: DhtPeer): Promise<number> {
  let n = 0
  for await (const key of datastore.queryKeys({ prefix: '/dht/provider/' })) if (key.toString().endsWith('/' + peer.peerId.toString())) n++
  return n
}

before(async () => {
  dir = await tempDir()
  datastore = new LevelDatastore(dir.path)
  await datastore.open()
  node = await createMeshLibp2p({
    privateKey: toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64'),
    datastore,
    host: '127.0.0.1',
    port: 0,
    wsPort: 0,
    privateAddresses: false
  })
  await node.start()
  // The rogue dials in (inbound connections are not gated) and listens on 127.0.0.1 only.
  rogue = await startDhtPeer((node.getMultiaddrs()[0] as { toString: () => string }).toString(), { clientMode: false })
  await waitFor(async () => {
    await rogue.contentRouting.provide(await mediatorKey('did:example:0'), { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    return await recordsOf(rogue) > 0 ? true : undefined
  }, 20_000, 'the rogue’s first provider record to reach the node')
})

after(async () => {
  await rogue.stop()
  await node.stop()
  await datastore.close()
  await dir.remove()
})

it('one peer announcing many keys gets at most the per-peer quota of provider records stored', async () => {
  const keys = await Promise.all(Array.from({ length: PROVIDER_QUOTA.perPeer + 16 }, async (_, i) => await mediatorKey(`did:example:${i}`)))
  for (let i = 0; i < keys.length; i += 8) {
    await Promise.allSettled(keys.slice(i, i + 8).map(async key => { await rogue.contentRouting.provide(key, { signal: AbortSignal.timeout(5_000) }) }))
  }
  await waitFor(async () => await recordsOf(rogue) >= PROVIDER_QUOTA.perPeer ? true : undefined, 10_000, 'the rogue’s records to arrive')
  assert.equal(await recordsOf(rogue), PROVIDER_QUOTA.perPeer)
})

it('a peer cannot store values (public-key records) in the node’s DHT store', async () => {
  const key = await generateKeyPair('Ed25519')
  const pkKey = Uint8Array.from([...new TextEncoder().encode('/pk/'), ...peerIdFromPrivateKey(key).toMultihash().bytes])
  const sentTo: string[] = []
  for await (const event of rogue.services.dht.put(pkKey, publicKeyToProtobuf(key.publicKey), { signal: AbortSignal.timeout(5_000) })) {
    if (event.name === 'SEND_QUERY' && event.messageName === 'PUT_VALUE') sentTo.push(event.to.toString())
  }
  assert.deepEqual(sentTo, [node.peerId.toString()], 'the rogue sent the record to the node')
  await new Promise(resolve => setTimeout(resolve, 300))
  const stored = []
  for await (const key of datastore.queryKeys({ prefix: '/dht/record' })) stored.push(key.toString())
  assert.deepEqual(stored, [])
})

it('privateAddresses false: loopback addresses from identify and provider records are not stored, and not dialled', async () => {
  const announced = rogue.getMultiaddrs()
  assert.ok(announced.length > 0 && announced.every(address => address.toString().startsWith('/ip4/127.0.0.1/')), 'the rogue announces loopback addresses only')
  // The node has the rogue's provider records (the test above), each announced with those addresses.
  assert.ok(await recordsOf(rogue) > 0)
  let provider: Provider | undefined
  for await (provider of node.contentRouting.findProviders(await mediatorKey('did:example:0'), { signal: AbortSignal.timeout(5_000) })) break
  assert.equal(provider?.id.toString(), rogue.peerId.toString())
  assert.deepEqual(provider.multiaddrs, [], 'the provider is listed without its loopback addresses')

  assert.deepEqual((await node.peerStore.get(rogue.peerId)).addresses, [], 'the peer store holds no loopback address')
  await node.hangUp(rogue.peerId)
  await assert.rejects(node.dial(announced[0] as Parameters<MeshLibp2p['dial']>[0], { signal: AbortSignal.timeout(5_000) }), { name: 'DialDeniedError' })
  assert.equal(node.getConnections(rogue.peerId).length, 0)
})
