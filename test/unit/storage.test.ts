import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { GroupCommit, StorageVersionError, openDatabase, sublevel } from '../../storage/database.ts'
import type { Database } from '../../storage/database.ts'
import { MailboxFullError, createLevelMailbox, contentHash } from '../../storage/mailbox.ts'
import { createLevelMediations } from '../../storage/mediations.ts'
import { createLevelOutbox } from '../../storage/outbox.ts'
import type { OutboxEntry } from '../../storage/outbox.ts'
import { tempDir } from '../helpers/node.ts'

describe('storage', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let db: Database
  let commit: GroupCommit

  before(async () => {
    dir = await tempDir()
    db = await openDatabase(dir.path)
    commit = new GroupCommit(db)
  })
  after(async () => {
    await db.close()
    await dir.remove()
  })

  it('mailbox: quotas are exact under concurrent adds, duplicates are kept once', async () => {
    const mailbox = createLevelMailbox(db, commit, { maxMessages: 5, maxBytes: 1_000_000 })
    const results = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) => await mailbox.add('did:ex:quota', `message ${i}`)))
    assert.equal(results.filter(r => r.status === 'fulfilled').length, 5)
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MailboxFullError)
    assert.equal((await mailbox.status('did:ex:quota')).count, 5)

    const twice = await Promise.all([mailbox.add('did:ex:dupe', 'same'), mailbox.add('did:ex:dupe', 'same')])
    assert.deepEqual(twice.map(r => r.duplicate).sort(), [false, true])
    assert.equal((await mailbox.add('did:ex:dupe', 'same')).duplicate, true)
    assert.equal((await mailbox.status('did:ex:dupe')).count, 1)
  })

  it('mailbox: lists oldest first by range, removes only the named recipients\' messages, sweeps by age', async () => {
    const mailbox = createLevelMailbox(db, commit, { maxMessages: 100, maxBytes: 1_000_000 })
    await mailbox.add('did:ex:a', 'first', 1000)
    await mailbox.add('did:ex:a', 'second', 2000)
    await mailbox.add('did:ex:b', 'other', 1500)
    assert.deepEqual((await mailbox.list(['did:ex:a'], 10)).map(m => m.message), ['first', 'second'])
    assert.deepEqual((await mailbox.list(['did:ex:a'], 10, new Set([contentHash('first')]))).map(m => m.message), ['second'])
    const status = await mailbox.status('did:ex:a')
    assert.deepEqual(status, { count: 2, bytes: 11, oldest: 1000, newest: 2000 })

    assert.equal(await mailbox.remove(['did:ex:b'], [contentHash('first')]), 0)
    assert.equal(await mailbox.remove(['did:ex:a'], [contentHash('first'), contentHash('first')]), 1)
    assert.equal((await mailbox.status('did:ex:a')).count, 1)

    assert.equal(await mailbox.sweep(1800), 1) // 'other' at 1500
    assert.equal((await mailbox.status('did:ex:b')).count, 0)
    assert.equal((await mailbox.status('did:ex:a')).count, 1)
  })

  it('mailbox: lists the oldest across recipients; status looks past excluded (in-flight) messages; removes by box or by id', async () => {
    const mailbox = createLevelMailbox(db, commit, { maxMessages: 100, maxBytes: 1_000_000 })
    for (const [recipient, message, at] of [['did:ex:m1', 'm1-a', 100], ['did:ex:m2', 'm2-a', 200], ['did:ex:m1', 'm1-b', 300], ['did:ex:m3', 'm3-a', 400], ['did:ex:m2', 'm2-b', 500]] as const) {
      await mailbox.add(recipient, message, at)
    }
    const all = ['did:ex:m1', 'did:ex:m2', 'did:ex:m3', 'did:ex:empty']
    assert.deepEqual((await mailbox.list(all, 3)).map(m => m.message), ['m1-a', 'm2-a', 'm1-b'])
    assert.deepEqual((await mailbox.list([...all].reverse(), 3)).map(m => m.message), ['m1-a', 'm2-a', 'm1-b'], 'whatever the recipients\' order')
    assert.deepEqual((await mailbox.list(all, 2, new Set([contentHash('m1-a')]))).map(m => m.message), ['m2-a', 'm1-b'])
    assert.deepEqual(await mailbox.list(all, 0), [])

    const m1 = await mailbox.status('did:ex:m1', new Set([contentHash('m1-a'), contentHash('m2-a')]))
    assert.deepEqual(m1, { count: 1, bytes: 4, oldest: 300, newest: 300 })
    assert.deepEqual(await mailbox.status('did:ex:m2', new Set([contentHash('m2-b')])), { count: 1, bytes: 4, oldest: 200, newest: 200 })
    assert.deepEqual(await mailbox.status('did:ex:m3', new Set([contentHash('m3-a')])), { count: 0, bytes: 0 })

    // Boxes holding fewer messages than the ids are read whole, others looked up by id: same answer.
    assert.equal(await mailbox.remove(all, [contentHash('m1-a'), contentHash('m2-b'), contentHash('m3-a'), contentHash('unknown')]), 3)
    assert.equal(await mailbox.remove(['did:ex:m2'], [contentHash('m1-b')]), 0, 'only the named recipients\' messages')
    assert.deepEqual((await mailbox.list(all, 10)).map(m => m.message), ['m2-a', 'm1-b'])
  })

  it('mediations: one holder per recipient, aliases route to it, keylists by client', async () => {
    const mediations = createLevelMediations(db, commit)
    await mediations.grant('did:ex:client1')
    assert.equal(await mediations.addRecipient('did:ex:client1', 'did:ex:r1', ['did:key:alias1']), 'success')
    assert.equal(await mediations.addRecipient('did:ex:client1', 'did:ex:r1'), 'no_change')
    assert.equal(await mediations.addRecipient('did:ex:client2', 'did:ex:r1'), 'client_error')
    assert.deepEqual(await mediations.findRecipient('did:key:alias1'), { client: 'did:ex:client1', recipient: 'did:ex:r1' })
    assert.deepEqual(await mediations.recipients('did:ex:client1'), ['did:ex:r1'])
    assert.equal(await mediations.removeRecipient('did:ex:client2', 'did:ex:r1'), 'client_error')
    assert.equal(await mediations.removeRecipient('did:ex:client1', 'did:ex:r1'), 'success')
    assert.equal(await mediations.findRecipient('did:key:alias1'), undefined)
  })

  it('outbox: a message kept once even when added twice at once; heads by hop, oldest first; attempts and counts from the index', async () => {
    const outbox = createLevelOutbox(db, commit)
    const entry = (next: string, message: string, enqueuedAt: number, sender = 'did:ex:client'): Parameters<typeof outbox.add>[0] =>
      ({ next, message, enqueuedAt, expiresAt: enqueuedAt + 60_000, sender, size: message.length })
    const twice = await Promise.all([outbox.add(entry('did:ex:hop', 'm1', 1)), outbox.add(entry('did:ex:hop', 'm1', 2))])
    assert.deepEqual(twice.map(r => r.duplicate).sort(), [false, true])
    await outbox.add(entry('did:ex:hop', 'm3', 3, 'peer-1'))
    await outbox.add(entry('did:ex:hop', 'm2', 2))
    await outbox.add(entry('did:ex:hop:other', 'm4', 4))
    const head = await outbox.head('did:ex:hop', 2)
    assert.deepEqual(head.map(e => e.message), ['m1', 'm2'])
    assert.deepEqual(head.map(e => e.attempts), [0, 0])
    await outbox.attempted({ ...head[0] as OutboxEntry, attempts: 3 })
    assert.equal((await outbox.head('did:ex:hop', 1))[0]?.attempts, 3)
    const counts = await outbox.counts()
    assert.deepEqual([...counts.hops].sort(), [['did:ex:hop', 3], ['did:ex:hop:other', 1]])
    assert.deepEqual([...counts.senders].sort(), [['did:ex:client', 3], ['peer-1', 1]])
    assert.equal(counts.bytes, 8)
    await outbox.remove(head[0] as OutboxEntry)
    assert.deepEqual((await outbox.head('did:ex:hop', 5)).map(e => e.message), ['m2', 'm3'])
    assert.equal((await outbox.counts()).hops.get('did:ex:hop'), 2)
  })

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
      assert.deepEqual(await outbox.head('did:ex:hop', 10), [{ ...v2, sender: 'did:ex:client', attempts: 0, size: v2.message.length }])
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
