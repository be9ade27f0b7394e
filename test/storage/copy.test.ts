import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Key } from 'interface-datastore'
import { COPY_LIMITS, TargetNotEmptyError, copyStore } from '../../storage/copy.ts'
import { openStoreAt } from '../../storage/open.ts'
import type { Store } from '../../storage/store.ts'
import { tempDir } from '../helpers/node.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'

let server: TestPostgres
const dirs: Array<{ remove: () => Promise<void> }> = []
before(async () => { server = await startTestPostgres() })
after(async () => {
  await server.stop()
  for (const dir of dirs) await dir.remove()
})

async function newDir (): Promise<string> {
  const dir = await tempDir()
  dirs.push(dir)
  return dir.path
}

async function collect<T> (items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

const byJson = <T>(items: T[]): T[] => items.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)

/** Everything a store holds that a copy must carry, in one order whatever the store, for deepEqual. */
async function everything (store: Store, mailboxDids: string[]): Promise<unknown> {
  const grants = await collect(store.mediations.entries())
  for (const grant of grants) {
    grant.recipients.sort((a, b) => a.recipient < b.recipient ? -1 : 1)
    for (const held of grant.recipients) held.aliases.sort()
  }
  const mailboxes: Record<string, unknown> = {}
  for (const did of mailboxDids) mailboxes[did] = await collect(store.mailbox.entries(did))
  return {
    grants: byJson(grants),
    mailboxes,
    outbox: byJson(await collect(store.outbox.entries())),
    usedInvitations: byJson(await collect(store.usedInvitations.entries())),
    pushDevices: byJson(await collect(store.pushDevices.entries())),
    mediatorDids: await store.state.mediatorDids(),
    libp2p: byJson((await collect(store.datastore.query({}))).map(({ key, value }) => [key.toString(), [...value]]))
  }
}

describe('store copy', () => {
  it('LevelDB → PostgreSQL → a fresh LevelDB carries every field over, quotas aside; messages nobody can read are counted, not copied', async () => {
    const sourceDir = await newDir()
    // Tight quotas at the source: the copy's own limits must not refuse what it holds.
    const source = await openStoreAt(sourceDir, { mailbox: { maxMessages: 3, maxBytes: 1_000_000 } })
    await source.mediations.grant('did:ex:alice', 1111)
    await source.mediations.grant('did:ex:bob', 2222)
    await source.mediations.addRecipient('did:ex:alice', 'did:ex:alice-r1', ['did:key:z6alice1', 'did:key:z6alice2'])
    await source.mediations.addRecipient('did:ex:alice', 'did:ex:alice-r2')
    await source.mediations.addRecipient('did:ex:bob', 'did:ex:bob-r1', ['did:key:z6bob'])
    for (const [i, did] of ['did:ex:alice-r1', 'did:ex:alice-r1', 'did:ex:alice-r1', 'did:ex:alice-r2', 'did:ex:bob-r1', 'did:ex:alice'].entries()) {
      await source.mailbox.add(did, `{"protected":"m${i}","ciphertext":"é${i}"}`, 10_000 + i)
    }
    // Queued, then its recipient removed: no mailbox a client reads names it any more.
    await source.mediations.addRecipient('did:ex:bob', 'did:ex:bob-gone')
    await source.mailbox.add('did:ex:bob-gone', 'orphan', 5)
    await source.mediations.removeRecipient('did:ex:bob', 'did:ex:bob-gone')
    await source.outbox.add({ next: 'did:ex:hop', message: 'relay 1', enqueuedAt: 7, expiresAt: 70_000, sender: 'did:ex:alice', origin: 'did:ex:alice', thid: 'thread-1', size: 7 })
    await source.outbox.add({ next: 'did:ex:hop2', message: 'relay 2', enqueuedAt: 8, expiresAt: 80_000, sender: 'peer-x', size: 7 })
    const [tried] = await source.outbox.claim('did:ex:hop', 1, 60_000)
    assert.ok(tried !== undefined)
    await source.outbox.attempted({ ...tried, attempts: 5 })
    await source.usedInvitations.use('nonce-1', 99_999)
    await source.pushDevices.register({ id: 'push-1', client: 'did:ex:alice', kind: 'webpush', token: 'https://push.example/a', keys: { p256dh: 'p', auth: 'a' }, registeredAt: 3 }, 10)
    await source.pushDevices.register({ id: 'push-2', client: 'did:ex:alice', kind: 'fcm', token: 'fcm-token', platform: 'android', registeredAt: 4 }, 10)
    await source.pushDevices.register({ id: 'push-3', client: 'did:ex:bob', kind: 'apns', token: 'apns-token', registeredAt: 5 }, 10)
    await source.state.rememberMediatorDid('did:peer:2.old')
    await source.state.rememberMediatorDid('did:peer:2.new')
    await source.datastore.put(new Key('/peers/abc'), Uint8Array.from([1, 2, 3]))
    const dids = ['did:ex:alice', 'did:ex:alice-r1', 'did:ex:alice-r2', 'did:ex:bob', 'did:ex:bob-r1']
    const expected = await everything(source, dids)

    const url = await server.createDatabase()
    const middle = await openStoreAt(url, COPY_LIMITS)
    const report = await copyStore(source, middle)
    assert.deepEqual(report, { clients: 2, recipients: 3, messages: 6, outbox: 2, usedInvitations: 1, pushDevices: 3, mediatorDids: 2, libp2pRecords: 1, leftBehind: { messages: 1, bytes: 6 } })
    assert.deepEqual(await everything(middle, dids), expected)
    await source.close()

    const target = await openStoreAt(await newDir(), COPY_LIMITS)
    assert.equal((await copyStore(middle, target)).messages, 6)
    assert.deepEqual(await everything(target, dids), expected)
    // Routing and totals work on what was copied, as on what was written (37 bytes each: é is two).
    assert.deepEqual(await target.mediations.findRecipient('did:key:z6alice2'), { client: 'did:ex:alice', recipient: 'did:ex:alice-r1' })
    assert.deepEqual(await target.mailbox.status('did:ex:alice-r1'), { count: 3, bytes: 3 * 37, oldest: 10_000, newest: 10_002 })
    assert.equal(await target.usedInvitations.use('nonce-1', 99_999), false)
    await middle.close()
    await target.close()
  })

  it('refuses a target that holds anything, naming what', async () => {
    const source = await openStoreAt(await newDir(), COPY_LIMITS)
    const target = await openStoreAt(await server.createDatabase(), COPY_LIMITS)
    await target.state.rememberMediatorDid('did:ex:someone')
    await assert.rejects(copyStore(source, target), (err: Error) => err instanceof TargetNotEmptyError && /mediator DIDs/.test(err.message))
    await source.close()
    await target.close()
  })
})
