import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { GroupCommit, StorageVersionError, openDatabase, sublevel } from '../../storage/level/database.ts'
import { createLevelMediations } from '../../storage/level/mediations.ts'
import { createLevelOutbox } from '../../storage/level/outbox.ts'
import { openLevelStore } from '../../storage/level/store.ts'
import { tempDir } from '../helpers/node.ts'
import { storeContract } from './contract.ts'

storeContract('LevelDB', async () => {
  const dir = await tempDir()
  return {
    open: async limits => await openLevelStore(dir.path, limits ?? { mailbox: { maxMessages: 100, maxBytes: 1_000_000 } }),
    remove: dir.remove
  }
})

describe('LevelDB store: layout versions', () => {
  it('refuses a store of another layout version', async () => {
    const other = await tempDir()
    const old = await openDatabase(other.path)
    await sublevel(old, 'meta').put('version', 999)
    await old.close()
    await assert.rejects(openDatabase(other.path), StorageVersionError)
    await other.remove()
  })

  it('upgrades a layout version 2 store: waiting relays keep their place (with a sender, a size and no attempts), contested or stale aliases go', async () => {
    const other = await tempDir()
    const old = await openDatabase(other.path)
    const v2 = { id: 'abc', next: 'did:ex:hop', message: '{"ciphertext":"x"}', enqueuedAt: 5, expiresAt: Date.now() + 60_000, origin: 'did:ex:client' }
    const key = ['did:ex:hop', '5'.padStart(15, '0'), 'abc'].join('\x00')
    await old.batch([
      { type: 'put', sublevel: sublevel(old, 'meta'), key: 'version', value: 2 },
      { type: 'put', sublevel: sublevel(old, 'outbox'), key, value: v2 },
      { type: 'put', sublevel: sublevel(old, 'outbox-ids'), key: 'did:ex:hop\x00abc', value: key },
      { type: 'put', sublevel: sublevel(old, 'outbox-ids'), key: 'did:ex:hop\x00gone', value: 'no such entry' },
      // v2 let a second client's recipient take over an alias the first listed; k2 is honest, k3 stale.
      { type: 'put', sublevel: sublevel(old, 'mediation-recipients'), key: 'did:ex:r1', value: { client: 'did:ex:c1', aliases: ['did:key:k1', 'did:key:k2'] } },
      { type: 'put', sublevel: sublevel(old, 'mediation-recipients'), key: 'did:ex:r2', value: { client: 'did:ex:c2', aliases: ['did:key:k1'] } },
      { type: 'put', sublevel: sublevel(old, 'mediation-aliases'), key: 'did:key:k1', value: 'did:ex:r2' },
      { type: 'put', sublevel: sublevel(old, 'mediation-aliases'), key: 'did:key:k2', value: 'did:ex:r1' },
      { type: 'put', sublevel: sublevel(old, 'mediation-aliases'), key: 'did:key:k3', value: 'did:ex:removed' }
    ])
    await old.close()
    const upgraded = await openDatabase(other.path)
    try {
      assert.equal(await sublevel(upgraded, 'meta').get('version'), 3)
      const outbox = createLevelOutbox(upgraded, new GroupCommit(upgraded))
      assert.deepEqual(await outbox.claim('did:ex:hop', 10, 60_000), [{ ...v2, sender: 'did:ex:client', attempts: 0, size: v2.message.length }])
      const { hops, senders, bytes } = await outbox.counts()
      assert.equal(bytes, v2.message.length)
      const mediations = createLevelMediations(upgraded, new GroupCommit(upgraded))
      assert.equal(await mediations.findRecipient('did:key:k1'), undefined, 'a contested alias routes to no one')
      assert.deepEqual(await mediations.findRecipient('did:key:k2'), { client: 'did:ex:c1', recipient: 'did:ex:r1' })
      assert.equal(await mediations.findRecipient('did:key:k3'), undefined)
      assert.deepEqual(await mediations.findRecipient('did:ex:r2'), { client: 'did:ex:c2', recipient: 'did:ex:r2' })
      assert.deepEqual([...hops], [['did:ex:hop', 1]])
      assert.deepEqual([...senders], [['did:ex:client', 1]])
    } finally {
      await upgraded.close()
      await other.remove()
    }
  })
})
