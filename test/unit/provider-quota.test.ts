import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { ProviderQuotaError, boundProviderRecords } from '../../node/provider-quota.ts'
import { tempDir } from '../helpers/node.ts'

let dir: Awaited<ReturnType<typeof tempDir>>
let store: LevelDatastore
const peer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const record = (key: number, provider: PeerId): Key => new Key(`/dht/provider/KEY${key}/${provider.toString()}`)
const value = new Uint8Array([1])

before(async () => {
  dir = await tempDir()
  store = new LevelDatastore(dir.path)
  await store.open()
})
after(async () => {
  await store.close()
  await dir.remove()
})

it('provider records: per peer and in total, counted from disk, freed by deletes; own records and other keys are never refused', async () => {
  const self = await peer()
  const [a, b, c] = [await peer(), await peer(), await peer()]
  const quota = { perPeer: 2, total: 3 }
  const bounded = await boundProviderRecords(store, self, quota)

  await bounded.put(record(1, a), value)
  await bounded.put(record(2, a), value)
  await bounded.put(record(2, a), value) // a record provided again is not a new one
  await assert.rejects(async () => await bounded.put(record(3, a), value), ProviderQuotaError)
  // Fresh peer IDs escape the per-peer count, not the total.
  await bounded.put(record(1, b), value)
  await assert.rejects(async () => await bounded.put(record(1, c), value), ProviderQuotaError)
  await bounded.put(record(9, self), value)
  await bounded.put(new Key('/peers/anything'), value)

  // Reopened over the same store: the counts come from disk.
  const reopened = await boundProviderRecords(store, self, quota)
  await assert.rejects(async () => await reopened.put(record(2, c), value), ProviderQuotaError)
  await reopened.delete(record(1, a))
  await reopened.delete(record(1, a)) // gone already: frees nothing more
  await reopened.put(record(2, c), value)
  await assert.rejects(async () => await reopened.put(record(3, c), value), ProviderQuotaError)
  assert.equal(await reopened.has(record(2, c)), true, 'reads go through')
})
