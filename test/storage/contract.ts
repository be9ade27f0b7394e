/**
 * What every store must do, whatever holds the data: each implementation's test file runs this
 * suite against a real instance (LevelDB in a temp dir; PostgreSQL on a real server). Every test
 * gets an empty store of its own; `open` may be called again on the same place after `close`, to
 * prove what survives a restart.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Key } from 'interface-datastore'
import { MailboxFullError, contentHash } from '../../storage/store.ts'
import type { AddResult, OutboxEntry, PushRegistration, Store, StoreLimits } from '../../storage/store.ts'

/** One empty place a store keeps its data: opened (and reopened) as often as a test likes. */
export interface StorePlace {
  open(limits?: StoreLimits): Promise<Store>
  remove(): Promise<void>
}

const LIMITS: StoreLimits = { mailbox: { maxMessages: 100, maxBytes: 1_000_000 } }

async function collect<T> (items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

export function storeContract (name: string, newPlace: () => Promise<StorePlace>): void {
  describe(`store contract: ${name}`, () => {
    const places: StorePlace[] = []
    const opened: Store[] = []
    after(async () => {
      for (const store of opened) if (store.isOpen()) await store.close()
      for (const place of places) await place.remove()
    })

    /** A store in a new, empty place; reopen() closes it and opens the same place again. */
    async function fresh (limits = LIMITS): Promise<{ store: Store, reopen: () => Promise<Store> }> {
      const place = await newPlace()
      places.push(place)
      let store = await place.open(limits)
      opened.push(store)
      return {
        store,
        reopen: async () => {
          await store.close()
          store = await place.open(limits)
          opened.push(store)
          return store
        }
      }
    }

    it('mailbox: quotas are exact under concurrent adds, duplicates are kept once', async () => {
      const { mailbox } = (await fresh({ mailbox: { maxMessages: 5, maxBytes: 1_000_000 } })).store
      const results = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) => await mailbox.add('did:ex:quota', `message ${i}`)))
      assert.equal(results.filter(r => r.status === 'fulfilled').length, 5)
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MailboxFullError, String(r.reason))
      assert.equal((await mailbox.status('did:ex:quota')).count, 5)

      const twice = await Promise.all([mailbox.add('did:ex:dupe', 'same'), mailbox.add('did:ex:dupe', 'same')])
      assert.deepEqual(twice.map(r => r.duplicate).sort(), [false, true])
      assert.deepEqual(twice.map(r => r.id), [contentHash('same'), contentHash('same')])
      assert.equal((await mailbox.add('did:ex:dupe', 'same')).duplicate, true)
      assert.equal((await mailbox.status('did:ex:dupe')).count, 1)
      assert.equal((await mailbox.add('did:ex:other', 'same')).duplicate, false, 'the same message for another recipient is its own')
    })

    it('mailbox: adds arriving together over several boxes: duplicates among them kept once, a box filled part way refuses only the rest', async () => {
      const { mailbox } = (await fresh({ mailbox: { maxMessages: 3, maxBytes: 1_000_000 } })).store
      await mailbox.add('did:ex:part', 'earlier')
      // (A store that groups writes may send the first alone, and the rest together.)
      const together = await Promise.allSettled([
        mailbox.add('did:ex:room', 'one'), mailbox.add('did:ex:part', 'one'), mailbox.add('did:ex:part', 'one'),
        mailbox.add('did:ex:part', 'two'), mailbox.add('did:ex:room', 'two'), mailbox.add('did:ex:part', 'three')
      ])
      const part = [1, 2, 3, 5].map(i => together[i] as PromiseSettledResult<AddResult>)
      const kept = part.flatMap(r => r.status === 'fulfilled' && !r.value.duplicate ? [r.value] : [])
      // (A store may report, for adds committed together, the queue after all of them.)
      assert.equal(kept.length, 2)
      assert.equal(Math.max(...kept.map(r => r.queued?.messages ?? 0)), 3)
      assert.equal(part.filter(r => r.status === 'fulfilled' && r.value.duplicate).length, 1)
      const refused = part.filter(r => r.status === 'rejected')
      assert.equal(refused.length, 1)
      assert.ok(refused[0]?.reason instanceof MailboxFullError, String(refused[0]?.reason))
      assert.equal((await mailbox.status('did:ex:part')).count, 3)
      const room = [0, 4].map(i => together[i] as PromiseSettledResult<AddResult>)
      assert.deepEqual(room.map(r => r.status === 'fulfilled' && !r.value.duplicate), [true, true])
      assert.equal((await mailbox.status('did:ex:room')).count, 2)
    })

    it('mailbox: an add reports the recipient\'s queue after it, a duplicate nothing', async () => {
      const { mailbox } = (await fresh()).store
      assert.deepEqual((await mailbox.add('did:ex:fill', 'ab')).queued, { messages: 1, bytes: 2 })
      assert.deepEqual((await mailbox.add('did:ex:fill', 'cdé')).queued, { messages: 2, bytes: 6 })
      assert.equal((await mailbox.add('did:ex:fill', 'ab')).queued, undefined)
      assert.deepEqual((await mailbox.add('did:ex:other-fill', 'x')).queued, { messages: 1, bytes: 1 })
    })

    it('mailbox: the byte quota counts UTF-8 bytes', async () => {
      const { mailbox } = (await fresh({ mailbox: { maxMessages: 100, maxBytes: 10 } })).store
      await mailbox.add('did:ex:bytes', 'ééééé') // 10 bytes
      await assert.rejects(mailbox.add('did:ex:bytes', 'x'), MailboxFullError)
      const { count, bytes } = await mailbox.status('did:ex:bytes')
      assert.deepEqual({ count, bytes }, { count: 1, bytes: 10 })
    })

    it('mailbox: lists oldest first, removes only the named recipients\' messages, sweeps by age', async () => {
      const { mailbox } = (await fresh()).store
      await mailbox.add('did:ex:a', 'first', 1000)
      await mailbox.add('did:ex:a', 'second', 2000)
      await mailbox.add('did:ex:b', 'other', 1500)
      assert.deepEqual((await mailbox.list(['did:ex:a'], 10)).map(m => m.message), ['first', 'second'])
      assert.deepEqual(await mailbox.list(['did:ex:a'], 1), [{ id: contentHash('first'), receivedAt: 1000, size: 5, message: 'first' }])
      assert.deepEqual((await mailbox.list(['did:ex:a'], 10, new Set([contentHash('first')]))).map(m => m.message), ['second'])
      assert.deepEqual(await mailbox.status('did:ex:a'), { count: 2, bytes: 11, oldest: 1000, newest: 2000 })
      assert.deepEqual(await mailbox.status('did:ex:nobody'), { count: 0, bytes: 0 })

      assert.equal(await mailbox.remove(['did:ex:b'], [contentHash('first')]), 0)
      assert.equal(await mailbox.remove(['did:ex:a'], [contentHash('first'), contentHash('first')]), 1)
      assert.equal((await mailbox.status('did:ex:a')).count, 1)

      assert.equal(await mailbox.sweep(1800), 1) // 'other' at 1500
      assert.equal((await mailbox.status('did:ex:b')).count, 0)
      assert.equal((await mailbox.status('did:ex:a')).count, 1)
      assert.deepEqual(await mailbox.queued(), { messages: 1, bytes: 6 })
    })

    it('mailbox: a box drained batch by batch lists and counts what is left, and a message older than all left (a clock stepped back) comes first', async () => {
      const { mailbox } = (await fresh()).store
      const recipient = 'did:ex:drained'
      for (let i = 0; i < 30; i++) await mailbox.add(recipient, `message ${i}`, 1000 + i)
      for (let batch = 0; batch < 2; batch++) {
        const listed = await mailbox.list([recipient], 10)
        assert.deepEqual(listed.map(m => m.receivedAt), Array.from({ length: 10 }, (_, i) => 1000 + batch * 10 + i))
        assert.equal(await mailbox.remove([recipient], listed.map(m => m.id)), 10)
        assert.deepEqual(await mailbox.status(recipient), { count: 30 - 10 * (batch + 1), bytes: (30 - 10 * (batch + 1)) * 10, oldest: 1010 + batch * 10, newest: 1029 })
      }
      await mailbox.add(recipient, 'from the past', 5)
      assert.deepEqual((await mailbox.list([recipient], 2)).map(m => m.message), ['from the past', 'message 20'])
      assert.equal((await mailbox.status(recipient)).oldest, 5)

      const rest = await mailbox.list([recipient], 100)
      assert.equal(await mailbox.remove([recipient], rest.map(m => m.id)), 11)
      assert.deepEqual(await mailbox.status(recipient), { count: 0, bytes: 0 })
      assert.deepEqual(await mailbox.list([recipient], 10), [])
      await mailbox.add(recipient, 'after the drain', 1)
      assert.deepEqual((await mailbox.list([recipient], 10)).map(m => m.message), ['after the drain'])
      assert.deepEqual(await mailbox.status(recipient), { count: 1, bytes: 15, oldest: 1, newest: 1 })
    })

    it('mailbox: a list or claim stops before the message that would pass its byte limit, but always takes the oldest', async () => {
      const { mailbox } = (await fresh()).store
      for (const [at, size] of [[1, 400], [2, 300], [3, 400], [4, 100]] as const) await mailbox.add('did:ex:sized', String(at).repeat(size), at)
      const sizesOf = (messages: Array<{ size: number }>): number[] => messages.map(m => m.size)
      assert.deepEqual(sizesOf(await mailbox.list(['did:ex:sized'], 10, undefined, 700)), [400, 300])
      assert.deepEqual(sizesOf(await mailbox.list(['did:ex:sized'], 10, undefined, 1200)), [400, 300, 400, 100])
      assert.deepEqual(sizesOf(await mailbox.list(['did:ex:sized'], 10, undefined, 50)), [400], 'the oldest, though alone it passes the limit')
      assert.deepEqual(sizesOf(await mailbox.list(['did:ex:sized'], 10, new Set([contentHash('1'.repeat(400))]), 750)), [300, 400])
      assert.deepEqual(sizesOf(await mailbox.claim(['did:ex:sized'], 10, new Set(), 60_000, 750)), [400, 300])
    })

    it('mailbox: lists the oldest across recipients; status looks past excluded (in-flight) messages; removes by box or by id', async () => {
      const { mailbox } = (await fresh()).store
      for (const [recipient, message, at] of [['did:ex:m1', 'm1-a', 100], ['did:ex:m2', 'm2-a', 200], ['did:ex:m1', 'm1-b', 300], ['did:ex:m3', 'm3-a', 400], ['did:ex:m2', 'm2-b', 500]] as const) {
        await mailbox.add(recipient, message, at)
      }
      const all = ['did:ex:m1', 'did:ex:m2', 'did:ex:m3', 'did:ex:empty']
      assert.deepEqual((await mailbox.list(all, 3)).map(m => m.message), ['m1-a', 'm2-a', 'm1-b'])
      assert.deepEqual((await mailbox.list([...all].reverse(), 3)).map(m => m.message), ['m1-a', 'm2-a', 'm1-b'], 'whatever the recipients\' order')
      assert.deepEqual((await mailbox.list(all, 2, new Set([contentHash('m1-a')]))).map(m => m.message), ['m2-a', 'm1-b'])
      assert.deepEqual(await mailbox.list(all, 0), [])

      assert.deepEqual(await mailbox.status('did:ex:m1', new Set([contentHash('m1-a'), contentHash('m2-a')])), { count: 1, bytes: 4, oldest: 300, newest: 300 })
      assert.deepEqual(await mailbox.status('did:ex:m2', new Set([contentHash('m2-b')])), { count: 1, bytes: 4, oldest: 200, newest: 200 })
      assert.deepEqual(await mailbox.status('did:ex:m3', new Set([contentHash('m3-a')])), { count: 0, bytes: 0 })

      assert.equal(await mailbox.remove(all, [contentHash('m1-a'), contentHash('m2-b'), contentHash('m3-a'), contentHash('unknown')]), 3)
      assert.equal(await mailbox.remove(['did:ex:m2'], [contentHash('m1-b')]), 0, 'only the named recipients\' messages')
      assert.deepEqual((await mailbox.list(all, 10)).map(m => m.message), ['m2-a', 'm1-b'])
    })

    it('mailbox: a claim for a live push takes the oldest not excluded, and the same store gets its claims again', async () => {
      const { mailbox } = (await fresh()).store
      for (const [message, at] of [['c1', 1], ['c2', 2], ['c3', 3]] as const) await mailbox.add('did:ex:live', message, at)
      assert.deepEqual((await mailbox.claim(['did:ex:live', 'did:ex:none'], 2, new Set([contentHash('c1')]), 60_000)).map(m => m.message), ['c2', 'c3'])
      assert.deepEqual((await mailbox.claim(['did:ex:live'], 5, new Set(), 60_000)).map(m => [m.message, m.receivedAt, m.size]), [['c1', 1, 2], ['c2', 2, 2], ['c3', 3, 2]])
      assert.deepEqual((await mailbox.list(['did:ex:live'], 5)).map(m => m.message), ['c1', 'c2', 'c3'], 'claimed messages still wait for pickup')
      assert.deepEqual(await mailbox.claim(['did:ex:live'], 0, new Set(), 60_000), [])
    })

    it('mailbox: an acknowledgement raced by another counts once; purge empties the named boxes only', async () => {
      const { mailbox } = (await fresh()).store
      await mailbox.add('did:ex:p1', 'a')
      await mailbox.add('did:ex:p1', 'b')
      await mailbox.add('did:ex:p2', 'c')
      const counts = await Promise.all([mailbox.remove(['did:ex:p1'], [contentHash('a')]), mailbox.remove(['did:ex:p1'], [contentHash('a')])])
      assert.equal(counts[0] + counts[1], 1)
      assert.equal(await mailbox.purge(['did:ex:p1']), 1)
      assert.deepEqual(await mailbox.queued(), { messages: 1, bytes: 1 })
      assert.equal((await mailbox.status('did:ex:p2')).count, 1)
    })

    it('mailbox: what was acknowledged as stored survives a restart, and quotas still count it', async () => {
      const place = await fresh({ mailbox: { maxMessages: 2, maxBytes: 1_000_000 } })
      await place.store.mailbox.add('did:ex:kept', 'one', 10)
      await place.store.mailbox.add('did:ex:kept', 'two', 20)
      const { mailbox } = await place.reopen()
      assert.deepEqual((await mailbox.list(['did:ex:kept'], 10)).map(m => [m.message, m.receivedAt]), [['one', 10], ['two', 20]])
      assert.deepEqual(await mailbox.queued(), { messages: 2, bytes: 6 })
      await assert.rejects(mailbox.add('did:ex:kept', 'three'), MailboxFullError)
      assert.equal((await mailbox.add('did:ex:kept', 'one')).duplicate, true)
    })

    it('mediations: one holder per recipient, aliases route to it, keylists by client', async () => {
      const { mediations } = (await fresh()).store
      assert.equal(await mediations.addRecipient('did:ex:client1', 'did:ex:r0'), 'client_error', 'no mediation, no keylist')
      const granted = await mediations.grant('did:ex:client1', 1234)
      assert.deepEqual(granted, { client: 'did:ex:client1', grantedAt: 1234 })
      assert.deepEqual(await mediations.grant('did:ex:client1', 9999), granted, 'a second grant keeps the first')
      await mediations.grant('did:ex:client2')
      assert.equal(await mediations.count(), 2)
      assert.equal(await mediations.addRecipient('did:ex:client1', 'did:ex:r1', ['did:key:alias1']), 'success')
      assert.equal(await mediations.addRecipient('did:ex:client1', 'did:ex:r1'), 'no_change')
      assert.equal(await mediations.addRecipient('did:ex:client2', 'did:ex:r1'), 'client_error')
      assert.equal(await mediations.addRecipient('did:ex:client2', 'did:key:alias1'), 'client_error', 'an alias held is held')
      assert.equal(await mediations.addRecipient('did:ex:client2', 'did:ex:r2', ['did:ex:r1']), 'client_error', 'an alias naming another\'s recipient')
      assert.equal(await mediations.addRecipient('did:ex:client2', 'did:ex:client1'), 'client_error', 'a client\'s own DID is never a recipient')
      assert.equal(await mediations.grant('did:ex:r1'), undefined, 'a recipient never holds a mediation')
      assert.equal(await mediations.grant('did:key:alias1'), undefined)
      assert.deepEqual(await mediations.findRecipient('did:key:alias1'), { client: 'did:ex:client1', recipient: 'did:ex:r1' })
      assert.deepEqual(await mediations.findRecipient('did:ex:r1'), { client: 'did:ex:client1', recipient: 'did:ex:r1' })
      assert.equal(await mediations.findRecipient('did:ex:unknown'), undefined)
      assert.deepEqual(await mediations.recipients('did:ex:client1'), ['did:ex:r1'])
      assert.deepEqual(await mediations.mailboxDids('did:ex:client1'), ['did:ex:client1', 'did:ex:r1'])
      assert.equal(await mediations.removeRecipient('did:ex:client2', 'did:ex:r1'), 'client_error')
      assert.equal(await mediations.removeRecipient('did:ex:client1', 'did:ex:r1'), 'success')
      assert.equal(await mediations.removeRecipient('did:ex:client1', 'did:ex:r1'), 'no_change')
      assert.deepEqual(await mediations.mailboxDids('did:ex:client1'), ['did:ex:client1'], 'a removed recipient is read no more')
      // A keylist read racing a change: once the change is answered, every read sees it.
      const [, added] = await Promise.all([mediations.mailboxDids('did:ex:client1'), mediations.addRecipient('did:ex:client1', 'did:ex:r4')])
      assert.equal(added, 'success')
      assert.deepEqual(await mediations.mailboxDids('did:ex:client1'), ['did:ex:client1', 'did:ex:r4'])
      assert.equal(await mediations.findRecipient('did:key:alias1'), undefined)
      assert.equal(await mediations.addRecipient('did:ex:client2', 'did:ex:r3', ['did:key:alias1']), 'success', 'a released alias is free again')
    })

    it('mediations: two clients claiming one recipient at once: exactly one holds it', async () => {
      const { mediations } = (await fresh()).store
      const clients = Array.from({ length: 6 }, (_, i) => `did:ex:racer${i}`)
      for (const client of clients) await mediations.grant(client)
      const results = await Promise.all(clients.map(async (client, i) => await mediations.addRecipient(client, 'did:ex:contested', [`did:key:own${i}`, 'did:key:shared'])))
      assert.equal(results.filter(r => r === 'success').length, 1)
      const winner = clients[results.indexOf('success')]
      assert.deepEqual(await mediations.findRecipient('did:key:shared'), { client: winner, recipient: 'did:ex:contested' })
      for (const [i, result] of results.entries()) if (result !== 'success') assert.equal(await mediations.findRecipient(`did:key:own${i}`), undefined)
    })

    it('mediations: the recipients per client are capped; revoking takes every recipient and refuses later adds', async () => {
      const place = await fresh()
      const { mediations } = place.store
      await mediations.grant('did:ex:capped')
      assert.equal(await mediations.addRecipient('did:ex:capped', 'did:ex:c1', [], 2), 'success')
      assert.equal(await mediations.addRecipient('did:ex:capped', 'did:ex:c2', [], 2), 'success')
      assert.equal(await mediations.addRecipient('did:ex:capped', 'did:ex:c3', [], 2), 'client_error')
      assert.deepEqual((await mediations.clients(10)).map(c => c.client), ['did:ex:capped'])
      assert.deepEqual((await mediations.revoke('did:ex:capped'))?.sort(), ['did:ex:c1', 'did:ex:c2'])
      assert.equal(await mediations.revoke('did:ex:capped'), undefined)
      assert.deepEqual(await mediations.recipients('did:ex:capped'), [])
      assert.equal(await mediations.get('did:ex:capped'), undefined)
      assert.equal(await mediations.count(), 0)
      assert.equal(await mediations.addRecipient('did:ex:capped', 'did:ex:c4'), 'client_error')
      assert.equal(await mediations.findRecipient('did:ex:c1'), undefined)

      await mediations.grant('did:ex:durable', 77)
      await mediations.addRecipient('did:ex:durable', 'did:ex:d1', ['did:key:d1'])
      const reopened = (await place.reopen()).mediations
      assert.deepEqual(await reopened.get('did:ex:durable'), { client: 'did:ex:durable', grantedAt: 77 })
      assert.deepEqual(await reopened.findRecipient('did:key:d1'), { client: 'did:ex:durable', recipient: 'did:ex:d1' })
      assert.equal(await reopened.count(), 1)
    })

    it('outbox: a message kept once even when added twice at once; heads by hop, oldest first; attempts and counts', async () => {
      const place = await fresh()
      const { outbox } = place.store
      const entry = (next: string, message: string, enqueuedAt: number, sender = 'did:ex:client'): Parameters<typeof outbox.add>[0] =>
        ({ next, message, enqueuedAt, expiresAt: enqueuedAt + 60_000, sender, size: message.length, origin: 'did:ex:origin', thid: 'thread' })
      const twice = await Promise.all([outbox.add(entry('did:ex:hop', 'm1', 1)), outbox.add(entry('did:ex:hop', 'm1', 2))])
      assert.deepEqual(twice.map(r => r.duplicate).sort(), [false, true])
      await outbox.add(entry('did:ex:hop', 'm3', 3, 'peer-1'))
      await outbox.add(entry('did:ex:hop', 'm2', 2))
      await outbox.add(entry('did:ex:hop:other', 'm4', 4))
      const head = await outbox.claim('did:ex:hop', 2, 60_000)
      assert.deepEqual(head.map(e => e.message), ['m1', 'm2'])
      assert.deepEqual(head[0], { id: contentHash('m1'), next: 'did:ex:hop', message: 'm1', enqueuedAt: 1, expiresAt: 60_001, sender: 'did:ex:client', origin: 'did:ex:origin', thid: 'thread', attempts: 0, size: 2 })
      assert.deepEqual(twice.find(r => !r.duplicate), { duplicate: false, entry: head[0] }, 'an add returns the entry as stored (the outbox sends it from memory)')
      await outbox.attempted({ ...head[0] as OutboxEntry, attempts: 3 })
      assert.equal((await outbox.claim('did:ex:hop', 1, 60_000))[0]?.attempts, 3, 'a store gets its own claims again')
      const counts = await outbox.counts()
      assert.deepEqual([...counts.hops].sort(), [['did:ex:hop', 3], ['did:ex:hop:other', 1]])
      assert.deepEqual([...counts.senders].sort(), [['did:ex:client', 3], ['peer-1', 1]])
      assert.equal(counts.bytes, 8)
      await outbox.remove(head[0] as OutboxEntry)
      assert.deepEqual((await outbox.claim('did:ex:hop', 5, 60_000)).map(e => e.message), ['m2', 'm3'])

      const reopened = (await place.reopen()).outbox
      assert.deepEqual((await reopened.claim('did:ex:hop', 5, 60_000)).map(e => e.message), ['m2', 'm3'])
      assert.equal((await reopened.counts()).hops.get('did:ex:hop'), 2)
      assert.equal((await reopened.add(entry('did:ex:hop', 'm2', 9))).duplicate, true)
    })

    it('push devices: only for a client holding mediation; several per client, the newest kept; a refresh keeps its id; removed by id, by kind, and with the mediation; durable', async () => {
      const place = await fresh()
      const { mediations, pushDevices } = place.store
      const device = (id: string, kind: PushRegistration['kind'], token: string, registeredAt: number, client = 'did:ex:pushed'): PushRegistration =>
        ({ id, client, kind, token, registeredAt, ...(kind === 'fcm' ? { platform: 'android' } : {}), ...(kind === 'webpush' ? { keys: { p256dh: 'p-' + id, auth: 'a-' + id } } : {}) })
      assert.equal(await pushDevices.register(device('d0', 'fcm', 'tok-0', 1, 'did:ex:stranger'), 3), undefined, 'no mediation, no registration')
      await mediations.grant('did:ex:pushed')
      await mediations.grant('did:ex:other')
      assert.deepEqual(await pushDevices.register(device('d1', 'fcm', 'tok-1', 10), 3), device('d1', 'fcm', 'tok-1', 10))
      await pushDevices.register(device('d2', 'webpush', 'https://push.example/1', 20), 3)
      await pushDevices.register(device('d3', 'apns', 'tok-3', 30), 3)
      await pushDevices.register(device('o1', 'fcm', 'tok-1', 5, 'did:ex:other'), 3)
      const refreshed = await pushDevices.register({ ...device('d9', 'fcm', 'tok-1', 40), platform: 'ios' }, 3)
      assert.deepEqual(refreshed, { ...device('d1', 'fcm', 'tok-1', 40), platform: 'ios' }, 'the same token again keeps its id')
      assert.deepEqual((await pushDevices.list('did:ex:pushed')).map(d => d.id), ['d2', 'd3', 'd1'], 'oldest first')
      await pushDevices.register(device('d4', 'webpush', 'https://push.example/2', 50), 3)
      assert.deepEqual((await pushDevices.list('did:ex:pushed')).map(d => d.id), ['d3', 'd1', 'd4'], 'past the cap the oldest goes')
      assert.deepEqual(await pushDevices.list('did:ex:pushed', 'webpush'), [device('d4', 'webpush', 'https://push.example/2', 50)])
      assert.deepEqual((await pushDevices.list('did:ex:other')).map(d => d.id), ['o1'], 'one client\'s token is not another\'s')

      assert.equal(await pushDevices.remove('d3'), true)
      assert.equal(await pushDevices.remove('d3'), false)
      assert.equal(await pushDevices.clear('did:ex:pushed', 'apns'), 0)
      assert.equal(await pushDevices.clear('did:ex:pushed', 'fcm'), 1)
      assert.deepEqual((await pushDevices.list('did:ex:pushed')).map(d => d.id), ['d4'])

      const reopened = await place.reopen()
      assert.deepEqual(await reopened.pushDevices.list('did:ex:pushed'), [device('d4', 'webpush', 'https://push.example/2', 50)])
      assert.deepEqual((await collect(reopened.pushDevices.entries())).map(d => d.id).sort(), ['d4', 'o1'])
      await reopened.mediations.revoke('did:ex:pushed')
      assert.deepEqual(await reopened.pushDevices.list('did:ex:pushed'), [], 'the mediation ended: its registrations went with it')
      assert.equal(await reopened.pushDevices.register(device('d5', 'apns', 'tok-5', 60), 3), undefined)
      assert.deepEqual((await collect(reopened.pushDevices.entries())).map(d => d.id), ['o1'])
    })

    it('push devices: a registration racing the revoke of its mediation does not outlive it', async () => {
      const { mediations, pushDevices } = (await fresh()).store
      await mediations.grant('did:ex:racing')
      await Promise.all([
        ...Array.from({ length: 5 }, async (_, i) => await pushDevices.register({ id: `r${i}`, client: 'did:ex:racing', kind: 'apns', token: `t${i}`, registeredAt: i }, 10)),
        mediations.revoke('did:ex:racing')
      ])
      assert.deepEqual(await pushDevices.list('did:ex:racing'), [])
    })

    it('used invitations: a token is used once, even by racing requests; expired ones are swept', async () => {
      const { usedInvitations } = (await fresh()).store
      const uses = await Promise.all([usedInvitations.use('nonce-1', 1000), usedInvitations.use('nonce-1', 1000)])
      assert.deepEqual(uses.sort(), [false, true])
      assert.equal(await usedInvitations.use('nonce-1', 1000), false)
      assert.equal(await usedInvitations.use('nonce-2', 5000), true)
      assert.equal(await usedInvitations.sweep(2000), 1)
      assert.equal(await usedInvitations.use('nonce-2', 5000), false, 'not yet expired: still used')
    })

    it('node state: every mediator DID the node has had, oldest first, across restarts', async () => {
      const place = await fresh()
      assert.deepEqual(await place.store.state.rememberMediatorDid('did:ex:first'), ['did:ex:first'])
      assert.deepEqual(await place.store.state.rememberMediatorDid('did:ex:second'), ['did:ex:first', 'did:ex:second'])
      assert.deepEqual(await place.store.state.rememberMediatorDid('did:ex:first'), ['did:ex:first', 'did:ex:second'])
      const reopened = await place.reopen()
      assert.deepEqual(await reopened.state.rememberMediatorDid('did:ex:second'), ['did:ex:first', 'did:ex:second'])
    })

    it('enumerations (for copying a store): a recipient\'s messages page by page, grants with their recipients and routing aliases, outbox entries, used tokens, mediator DIDs', async () => {
      const { mailbox, mediations, outbox, usedInvitations, state } = (await fresh({ mailbox: { maxMessages: 2000, maxBytes: 1_000_000 } })).store
      // More than one page of the largest page size, some sharing a receipt time.
      await Promise.all(Array.from({ length: 1100 }, async (_, i) => await mailbox.add('did:ex:many', `message ${i}`, 1000 + Math.floor(i / 3))))
      await mailbox.add('did:ex:someone-else', 'not theirs', 1)
      const messages = await collect(mailbox.entries('did:ex:many'))
      assert.equal(messages.length, 1100)
      assert.equal(new Set(messages.map(m => m.id)).size, 1100, 'each once')
      assert.deepEqual(messages, [...messages].sort((a, b) => a.receivedAt - b.receivedAt), 'oldest first')
      assert.deepEqual(messages.find(m => m.message === 'message 7'), { id: contentHash('message 7'), receivedAt: 1002, size: 9, message: 'message 7' })
      assert.deepEqual(await collect(mailbox.entries('did:ex:nobody')), [])

      await mediations.grant('did:ex:c1', 10)
      await mediations.grant('did:ex:c2', 20)
      await mediations.addRecipient('did:ex:c1', 'did:ex:r1', ['did:key:a1', 'did:key:a2'])
      await mediations.addRecipient('did:ex:c1', 'did:ex:r2')
      const grants = await collect(mediations.entries())
      for (const grant of grants) for (const held of grant.recipients) held.aliases.sort()
      assert.deepEqual(grants.sort((a, b) => a.client < b.client ? -1 : 1), [
        { client: 'did:ex:c1', grantedAt: 10, recipients: [{ recipient: 'did:ex:r1', aliases: ['did:key:a1', 'did:key:a2'] }, { recipient: 'did:ex:r2', aliases: [] }] },
        { client: 'did:ex:c2', grantedAt: 20, recipients: [] }
      ])

      const queued = { expiresAt: 99_000, sender: 'did:ex:c1', size: 2 }
      await outbox.add({ next: 'did:ex:hop1', message: 'o1', enqueuedAt: 5, ...queued, origin: 'did:ex:c1', thid: 't1' })
      await outbox.add({ next: 'did:ex:hop2', message: 'o2', enqueuedAt: 6, ...queued })
      const [claimed] = await outbox.claim('did:ex:hop1', 1, 60_000)
      await outbox.attempted({ ...claimed as OutboxEntry, attempts: 4 })
      const waiting = await collect(outbox.entries())
      assert.deepEqual(waiting.sort((a, b) => a.enqueuedAt - b.enqueuedAt), [
        { id: contentHash('o1'), next: 'did:ex:hop1', message: 'o1', enqueuedAt: 5, ...queued, origin: 'did:ex:c1', thid: 't1', attempts: 4 },
        { id: contentHash('o2'), next: 'did:ex:hop2', message: 'o2', enqueuedAt: 6, ...queued, attempts: 0 }
      ])

      await usedInvitations.use('nonce-b', 2000)
      await usedInvitations.use('nonce-a', 1000)
      assert.deepEqual((await collect(usedInvitations.entries())).sort((a, b) => a.expiresAt - b.expiresAt), [{ nonce: 'nonce-a', expiresAt: 1000 }, { nonce: 'nonce-b', expiresAt: 2000 }])

      assert.deepEqual(await state.mediatorDids(), [])
      await state.rememberMediatorDid('did:ex:old')
      await state.rememberMediatorDid('did:ex:new')
      assert.deepEqual(await state.mediatorDids(), ['did:ex:old', 'did:ex:new'])
    })

    it('libp2p datastore: records survive a restart; the store reports whether it is open', async () => {
      const place = await fresh()
      await place.store.datastore.put(new Key('/peers/abc'), Uint8Array.from([1, 2, 3]))
      assert.equal(place.store.isOpen(), true)
      const reopened = await place.reopen()
      assert.deepEqual([...await reopened.datastore.get(new Key('/peers/abc'))], [1, 2, 3])
      assert.equal(await reopened.datastore.has(new Key('/peers/missing')), false)
      await reopened.close()
      assert.equal(reopened.isOpen(), false)
    })
  })
}
