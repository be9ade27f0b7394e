import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Key } from 'interface-datastore'
import postgres from 'postgres'
import { MailboxFullError, StoreUnavailableError, clientKey } from '../../storage/store.ts'
import type { Store, StoreLimits } from '../../storage/store.ts'
import { SCHEMA, openDatabase } from '../../storage/postgres/database.ts'
import type { Database, Queryable } from '../../storage/postgres/database.ts'
import { GroupCommit } from '../../storage/postgres/group-commit.ts'
import type { Batch } from '../../storage/postgres/group-commit.ts'
import { SCHEMA_VERSION } from '../../storage/postgres/migrations.ts'
import { StoreVersionError, openPostgresStore } from '../../storage/postgres/store.ts'
import { waitFor } from '../../bench/lib/wait.ts'
import { startCuttableProxy, startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'
import { storeContract } from './contract.ts'

const LIMITS: StoreLimits = { mailbox: { maxMessages: 100, maxBytes: 1_000_000 } }

let server: TestPostgres
before(async () => { server = await startTestPostgres() })
after(async () => { await server.stop() })

storeContract('PostgreSQL', async () => {
  const url = await server.createDatabase()
  return {
    open: async limits => await openPostgresStore(url, limits ?? LIMITS),
    // The server, and every database on it, goes when the file's tests are done.
    remove: async () => {}
  }
})

describe('PostgreSQL store: DIDs of several kilobytes (did:peer:2)', () => {
  it('are held, routed, queued for and relayed to by their hash, and returned whole', async () => {
    const store = await openPostgresStore(await server.createDatabase(), LIMITS)
    try {
      // Random, as key material is: a run of one letter would compress to fit an index key anyway.
      const long = (tag: string): string => `did:peer:2.${tag}.` + randomBytes(4500).toString('base64url')
      const [client, recipient, alias, hop] = [long('client'), long('recipient'), long('alias'), long('hop')]
      assert.deepEqual(await store.mediations.grant(client, 5), { client, grantedAt: 5 })
      assert.equal(await store.mediations.addRecipient(client, recipient, [alias]), 'success')
      assert.deepEqual(await store.mediations.findRecipient(alias), { client, recipient })
      assert.deepEqual(await store.mediations.mailboxDids(client), [client, recipient])
      assert.deepEqual((await store.mediations.clients(10)).map(c => c.client), [client])
      await store.mailbox.add(recipient, 'for the long one', 7)
      assert.deepEqual((await store.mailbox.list([recipient], 10)).map(m => m.message), ['for the long one'])
      await store.outbox.add({ next: hop, message: 'relayed', enqueuedAt: 1, expiresAt: 2, sender: client, size: 7 })
      assert.equal((await store.outbox.claim(hop, 1, 60_000))[0]?.next, hop)
      assert.deepEqual([...(await store.outbox.counts()).senders], [[client, 1]])
      assert.deepEqual(await store.state.rememberMediatorDid(hop), [hop])
      assert.deepEqual(await store.mediations.revoke(client), [recipient])
    } finally {
      await store.close()
    }
  })
})

describe('PostgreSQL store: replicas sharing one database', () => {
  const opened: Store[] = []
  after(async () => { for (const store of opened) await store.close() })

  /** Two stores (as two replicas would open) on one fresh database. */
  async function replicas (limits = LIMITS): Promise<[Store, Store]> {
    const url = await server.createDatabase()
    const pair = await Promise.all([openPostgresStore(url, limits), openPostgresStore(url, limits)])
    opened.push(...pair)
    return pair
  }

  it('two opens racing on a fresh database both succeed (the schema is built once, under a lock)', async () => {
    const [a, b] = await replicas()
    await a.mailbox.add('did:ex:r', 'from a')
    assert.equal((await b.mailbox.status('did:ex:r')).count, 1)
  })

  it('a mailbox quota is exact when both add at once', async () => {
    const [a, b] = await replicas({ mailbox: { maxMessages: 7, maxBytes: 1_000_000 } })
    const adds = Array.from({ length: 40 }, async (_, i) => await (i % 2 === 0 ? a : b).mailbox.add('did:ex:shared', `message ${i}`))
    const results = await Promise.allSettled(adds)
    assert.equal(results.filter(r => r.status === 'fulfilled').length, 7)
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MailboxFullError, String(r.reason))
    assert.deepEqual(await a.mailbox.queued(), { messages: 7, bytes: (await b.mailbox.status('did:ex:shared')).bytes })
    assert.equal((await b.mailbox.list(['did:ex:shared'], 100)).length, 7)
  })

  it('adds from both at once over many boxes (each store storing its group in one statement) neither deadlock nor overfill a box', async () => {
    const [a, b] = await replicas({ mailbox: { maxMessages: 5, maxBytes: 1_000_000 } })
    const boxes = ['did:ex:w', 'did:ex:x', 'did:ex:y', 'did:ex:z']
    // Ten messages a box, each from both stores: kept once, five a box.
    const adds = Array.from({ length: 40 }, (_, k) => [a, b].map(async store => await store.mailbox.add(boxes[k % 4] as string, `message ${k}`))).flat()
    const results = await Promise.allSettled(adds)
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MailboxFullError, String(r.reason))
    for (const box of boxes) assert.equal((await a.mailbox.status(box)).count, 5)
    assert.equal(results.filter(r => r.status === 'fulfilled' && !r.value.duplicate).length, 20)
  })

  it('the same message from both is kept once', async () => {
    const [a, b] = await replicas()
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await (i % 2 === 0 ? a : b).mailbox.add('did:ex:dupe', 'same')))
    assert.equal(results.filter(r => !r.duplicate).length, 1)
    assert.equal((await a.mailbox.status('did:ex:dupe')).count, 1)
  })

  it('one holder when both race to add a recipient, and an acknowledgement counts once', async () => {
    const [a, b] = await replicas()
    const clients = Array.from({ length: 8 }, (_, i) => `did:ex:client${i}`)
    for (const client of clients) await a.mediations.grant(client)
    const results = await Promise.all(clients.map(async (client, i) => await (i % 2 === 0 ? a : b).mediations.addRecipient(client, 'did:ex:contested', [`did:key:own${i}`, 'did:key:shared'])))
    assert.equal(results.filter(r => r === 'success').length, 1)
    const winner = clients[results.indexOf('success')]
    assert.deepEqual(await b.mediations.findRecipient('did:key:shared'), { client: winner, recipient: 'did:ex:contested' })
    for (const [i, result] of results.entries()) if (result !== 'success') assert.equal(await a.mediations.findRecipient(`did:key:own${i}`), undefined)

    await a.mailbox.add('did:ex:contested', 'ack me')
    const [listed] = await b.mailbox.list(['did:ex:contested'], 1)
    const counts = await Promise.all([a, b].map(async store => await store.mailbox.remove(['did:ex:contested'], [listed?.id ?? ''])))
    assert.deepEqual(counts.sort(), [0, 1])
  })

  it('the per-client cap holds when both add for one client, and a revoke leaves nothing behind', async () => {
    const [a, b] = await replicas()
    await a.mediations.grant('did:ex:capped')
    const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => await (i % 2 === 0 ? a : b).mediations.addRecipient('did:ex:capped', `did:ex:c${i}`, [`did:key:c${i}`], 5)))
    assert.equal(results.filter(r => r === 'success').length, 5)
    const revoked = await Promise.all([a.mediations.revoke('did:ex:capped'), b.mediations.addRecipient('did:ex:capped', 'did:ex:late', [], 100)])
    assert.equal(await b.mediations.findRecipient('did:ex:late'), undefined, 'added before the revoke and swept with it, or refused after')
    assert.equal(revoked[0]?.length, revoked[1] === 'success' ? 6 : 5)
    assert.equal(await a.mediations.count(), 0)
  })

  it('an outbox entry is claimed by one store at a time; a claim lapses, and closing lets go of it', async () => {
    const [a, b] = await replicas()
    for (const [i, message] of ['m1', 'm2', 'm3'].entries()) await a.outbox.add({ next: 'did:ex:hop', message, enqueuedAt: i, expiresAt: 60_000, sender: 'did:ex:s', size: 2 })
    const [first, second] = await Promise.all([a.outbox.claim('did:ex:hop', 2, 60_000), b.outbox.claim('did:ex:hop', 2, 60_000)])
    const claimed = [...first ?? [], ...second ?? []].map(e => e.message)
    assert.deepEqual([...claimed].sort(), ['m1', 'm2', 'm3'], 'racing claims split the entries, none twice')
    const mine = first?.length === 2 ? a : b
    const theirs = mine === a ? b : a
    assert.deepEqual((await mine.outbox.claim('did:ex:hop', 5, 60_000)).map(e => e.message), (mine === a ? first : second)?.map(e => e.message), 'a store gets its own claims again')
    assert.equal((await theirs.outbox.claim('did:ex:hop', 5, 1)).length, 1, 'not the other\'s, still leased')
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal((await mine.outbox.claim('did:ex:hop', 5, 60_000)).length, 3, 'a lapsed claim is anyone\'s')
    await mine.close()
    assert.equal((await theirs.outbox.claim('did:ex:hop', 5, 60_000)).length, 3, 'closed: its claims are released at once')
  })

  it('an outbox entry added with a lease is claimed by its writer: no other store relays it until the lease lapses', async () => {
    const [a, b] = await replicas()
    const added = await a.outbox.add({ next: 'did:ex:hop', message: 'm1', enqueuedAt: 1, expiresAt: 60_000, sender: 'did:ex:s', size: 2 }, 50)
    assert.equal(added.duplicate, false)
    assert.deepEqual(await b.outbox.claim('did:ex:hop', 5, 60_000), [], 'leased by its writer')
    assert.deepEqual((await a.outbox.claim('did:ex:hop', 5, 60_000)).map(e => e.message), ['m1'], 'the writer gets its own claim again')
    await a.outbox.add({ next: 'did:ex:hop', message: 'm2', enqueuedAt: 2, expiresAt: 60_000, sender: 'did:ex:s', size: 2 })
    assert.deepEqual((await b.outbox.claim('did:ex:hop', 5, 60_000)).map(e => e.message), ['m2'], 'added without a lease: anyone\'s')
    await a.close()
    assert.deepEqual((await b.outbox.claim('did:ex:hop', 5, 60_000)).map(e => e.message), ['m1', 'm2'], 'closed: its claims are released at once')
  })

  it('a message is claimed for a live push by one store at a time; a claim lapses', async () => {
    const [a, b] = await replicas()
    for (const message of ['p1', 'p2', 'p3', 'p4']) await a.mailbox.add('did:ex:live', message)
    const [first, second] = await Promise.all([a, b].map(async store => (await store.mailbox.claim(['did:ex:live'], 2, new Set(), 60_000)).map(m => m.message)))
    assert.deepEqual([...first ?? [], ...second ?? []].sort(), ['p1', 'p2', 'p3', 'p4'], 'racing claims split the messages, none twice')
    assert.deepEqual((await a.mailbox.claim(['did:ex:live'], 5, new Set(), 60_000)).map(m => m.message), first, 'a store gets its own claims again, not the other\'s')
    assert.deepEqual((await b.mailbox.claim(['did:ex:live'], 5, new Set(), 1)).map(m => m.message), second)
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal((await a.mailbox.claim(['did:ex:live'], 5, new Set(), 60_000)).length, 4, 'a lapsed claim is anyone\'s')
  })

  it('a route one store has read is forgotten once the other removes it: a recipient with its aliases, a revoked client\'s', async () => {
    const [a, b] = await replicas()
    await b.mediations.grant('did:ex:rc')
    assert.equal(await b.mediations.addRecipient('did:ex:rc', 'did:ex:rr', ['did:ex:ra']), 'success')
    assert.equal(await b.mediations.addRecipient('did:ex:rc', 'did:ex:rs'), 'success')
    assert.deepEqual(await a.mediations.findRecipient('did:ex:ra'), { client: 'did:ex:rc', recipient: 'did:ex:rr' })
    assert.deepEqual(await a.mediations.findRecipient('did:ex:rs'), { client: 'did:ex:rc', recipient: 'did:ex:rs' })
    const forgotten = async (name: string): Promise<void> => {
      await waitFor(async () => await a.mediations.findRecipient(name) === undefined ? true : undefined, 5000, `a to forget ${name}`)
    }
    assert.equal(await b.mediations.removeRecipient('did:ex:rc', 'did:ex:rr'), 'success')
    await forgotten('did:ex:ra')
    assert.deepEqual(await a.mediations.findRecipient('did:ex:rs'), { client: 'did:ex:rc', recipient: 'did:ex:rs' })
    assert.deepEqual(await b.mediations.revoke('did:ex:rc'), ['did:ex:rs'])
    await forgotten('did:ex:rs')
  })

  it('a signal from one store reaches the other\'s listeners, not its own', async () => {
    const [a, b] = await replicas()
    const heardByA: string[] = []
    const heardByB: string[] = []
    a.signals.listen(key => heardByA.push(key))
    const stop = b.signals.listen(key => heardByB.push(key))
    a.signals.announce('did:ex:waiting')
    await waitFor(() => heardByB.length > 0 ? true : undefined, 5000, 'b to hear a')
    b.signals.announce('did:ex:other')
    await waitFor(() => heardByA.length > 0 ? true : undefined, 5000, 'a to hear b')
    assert.deepEqual(heardByB, [clientKey('did:ex:waiting')])
    assert.deepEqual(heardByA, [clientKey('did:ex:other')], 'a does not hear itself')

    stop()
    const heardLater: string[] = []
    b.signals.listen(key => heardLater.push(key))
    a.signals.announce('did:ex:later')
    await waitFor(() => heardLater.length > 0 ? true : undefined, 5000, 'b to hear a again')
    assert.deepEqual(heardByB, [clientKey('did:ex:waiting')], 'a stopped listener hears nothing more')
    assert.deepEqual(heardByA, [clientKey('did:ex:other')])
  })
})

describe('PostgreSQL store: libp2p datastore', () => {
  async function all<T> (items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
    const collected: T[] = []
    for await (const item of items) collected.push(item)
    return collected
  }

  it('queries by prefix (keys and pairs), with BaseDatastore\'s limits; deletes', async () => {
    const store = await openPostgresStore(await server.createDatabase(), LIMITS)
    try {
      const { datastore } = store
      for (const key of ['/peers/b', '/peers/a', '/peersx', '/dht/record/1']) await datastore.put(new Key(key), new TextEncoder().encode(key))
      const keys = async (prefix?: string): Promise<string[]> => (await all(datastore.queryKeys({ prefix }))).map(key => key.toString())
      assert.deepEqual(await keys('/peers/'), ['/peers/a', '/peers/b'])
      assert.deepEqual(await keys(), ['/dht/record/1', '/peers/a', '/peers/b', '/peersx'])
      const pairs = await all(datastore.query({ prefix: '/peers/', limit: 1 }))
      assert.deepEqual(pairs.map(({ key, value }) => [key.toString(), new TextDecoder().decode(value)]), [['/peers/a', '/peers/a']])
      await datastore.delete(new Key('/peers/a'))
      assert.deepEqual(await keys('/peers/'), ['/peers/b'])
      await assert.rejects(async () => await datastore.get(new Key('/peers/a')), { name: 'NotFoundError' })
    } finally {
      await store.close()
    }
  })
})

describe('PostgreSQL store: group commit', () => {
  /** A database whose transactions are counted. */
  async function counted (): Promise<{ db: Database, transactions: () => number }> {
    const db = openDatabase(await server.createDatabase())
    let transactions = 0
    const transaction: Database['transaction'] = async work => { transactions++; return await db.transaction(work) }
    await db.query('CREATE TABLE kept (n integer PRIMARY KEY)')
    return { db: { ...db, transaction }, transactions: () => transactions }
  }

  it('writes arriving together share a transaction; a failing one fails alone', async () => {
    const { db, transactions } = await counted()
    try {
      const commit = new GroupCommit(db)
      const writes = Array.from({ length: 50 }, async (_, n) => await commit.run(async tx => await tx.query(n === 20 ? 'SELECT 1 / 0' : 'INSERT INTO kept VALUES ($1)', [n])))
      const results = await Promise.allSettled(writes)
      assert.deepEqual(results.flatMap((r, n) => r.status === 'rejected' ? [n] : []), [20])
      assert.equal((await db.query<{ count: number }>('SELECT count(*) AS count FROM kept'))[0]?.count, 49)
      // The first alone, the next 49 together (pipelined, failing), then one by one up to the one
      // at fault, then once more without it.
      assert.ok(transactions() <= 4, `${transactions()} transactions`)
    } finally {
      await db.close()
    }
  })

  it('batched operations go as one statement between the others, in lock order; a failing one fails alone', async () => {
    const { db, transactions } = await counted()
    try {
      const commit = new GroupCommit(db)
      const statements: number[][] = []
      const insert: Batch<number, number> = async (tx, ns) => {
        statements.push(ns)
        return (await tx.query<{ n: number }>('INSERT INTO kept SELECT 10 / (10 - n) * 0 + n FROM unnest($1::integer[]) AS n RETURNING n', [ns])).map(row => row.n)
      }
      // Each time, the first goes alone and the rest arrive while it commits, as one group.
      const alone = async (): Promise<unknown> => await commit.run(async tx => await tx.query('SELECT 1', []))
      // Keys 1, 2, 4, 5 batched, 3 not: two batch statements, either side of it.
      const writes = [alone(), ...[5, 1, 3, 4, 2].map(async n => await (n === 3 ? commit.run(async tx => (await tx.query<{ n: number }>('INSERT INTO kept VALUES (3) RETURNING n', []))[0]?.n, '3') : commit.runBatched(insert, n, String(n))))]
      assert.deepEqual((await Promise.all(writes)).slice(1), [5, 1, 3, 4, 2])
      assert.deepEqual(statements, [[1, 2], [4, 5]])
      // 10 divides by zero.
      const failing = await Promise.allSettled([alone(), ...[6, 10, 7].map(async n => await commit.runBatched(insert, n, String(n)))])
      assert.deepEqual(failing.map(r => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
      assert.equal((await db.query<{ count: number }>('SELECT count(*) AS count FROM kept'))[0]?.count, 7)
      assert.ok(transactions() <= 6, `${transactions()} transactions`)
    } finally {
      await db.close()
    }
  })

  it('a group chosen as a deadlock victim runs again instead of failing', async () => {
    const { db } = await counted()
    try {
      await db.query('INSERT INTO kept VALUES (1), (2)')
      // Two group commits (two processes, as far as the server knows) taking two rows in opposite orders, each pausing in between: one is the victim.
      const crossing = (first: number, second: number) => async (tx: Queryable) => {
        await tx.query('UPDATE kept SET n = n WHERE n = $1', [first])
        await tx.query('SELECT pg_sleep(0.2)', [])
        return await tx.query('UPDATE kept SET n = n WHERE n = $1 RETURNING n', [second])
      }
      const results = await Promise.allSettled([new GroupCommit(db).run(crossing(1, 2)), new GroupCommit(db).run(crossing(2, 1))])
      assert.deepEqual(results.map(r => r.status), ['fulfilled', 'fulfilled'])
    } finally {
      await db.close()
    }
  })

  it('commits synchronously whatever the database\'s default', async () => {
    const url = await server.createDatabase()
    const admin = postgres(url, { onnotice: () => {} })
    await admin.unsafe(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET synchronous_commit = off`)
    await admin.end()
    const plain = postgres(url, { onnotice: () => {} })
    assert.equal((await plain.unsafe('SHOW synchronous_commit'))[0]?.synchronous_commit, 'off', 'a session of its own gets the default')
    await plain.end()
    const db = openDatabase(url)
    try {
      const [row] = await db.transaction(async tx => await tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))
      assert.equal(row?.synchronous_commit, 'on')
    } finally {
      await db.close()
    }
  })
})

describe('PostgreSQL store: an unreachable database', () => {
  it('is reported (isOpen false), fails operations at once, and is used again once back, signals included', async () => {
    const url = await server.createDatabase()
    const proxy = await startCuttableProxy(url)
    const store = await openPostgresStore(proxy.through(url), LIMITS, { healthIntervalMs: 100 })
    const other = await openPostgresStore(url, LIMITS)
    try {
      const heard: string[] = []
      store.signals.listen(key => heard.push(key))
      assert.equal(store.isOpen(), true)

      proxy.cut()
      await waitFor(() => store.isOpen() ? undefined : true, 10_000, 'isOpen() to turn false')
      await assert.rejects(store.mailbox.add('did:ex:r', 'while cut'), StoreUnavailableError)
      await assert.rejects(store.mailbox.status('did:ex:r'), StoreUnavailableError)
      // Long enough for the listening connection to fail to come back more than once.
      await new Promise(resolve => setTimeout(resolve, 2500))
      assert.equal(store.isOpen(), false)

      proxy.restore()
      await waitFor(() => store.isOpen() ? true : undefined, 10_000, 'isOpen() to turn true')
      assert.equal((await store.mailbox.add('did:ex:r', 'after')).duplicate, false)
      // LISTEN is issued again in the background: announce until it is heard.
      await waitFor(() => {
        other.signals.announce('did:ex:r')
        return heard.length > 0 ? true : undefined
      }, 10_000, 'a signal after the outage')
      assert.equal(heard[0], clientKey('did:ex:r'))
    } finally {
      await store.close()
      await other.close()
      await proxy.close()
    }
  })
})

describe('PostgreSQL store: schema versions', () => {
  it('refuses a database whose schema is newer than the code, naming both versions', async () => {
    const url = await server.createDatabase()
    await (await openPostgresStore(url, LIMITS)).close()
    const sql = postgres(url, { onnotice: () => {} })
    await sql.unsafe(`INSERT INTO ${SCHEMA}.schema_migrations (version) VALUES (999)`)
    await sql.end()
    await assert.rejects(openPostgresStore(url, LIMITS), (err: Error) => err instanceof StoreVersionError && /999/.test(err.message) && new RegExp(`\\b${SCHEMA_VERSION}\\b`).test(err.message))
  })

  it('upgrades a version 1 database (before push registrations) in place: what it held stays, devices can be registered', async () => {
    const url = await server.createDatabase()
    const first = await openPostgresStore(url, LIMITS)
    await first.mediations.grant('did:ex:v1-client', 9)
    await first.mailbox.add('did:ex:v1-client', 'kept', 10)
    await first.close()
    // Back to version 1: without the later steps' table, function and records.
    const sql = postgres(url, { onnotice: () => {} })
    await sql.unsafe(`DROP TABLE ${SCHEMA}.push_devices; DROP FUNCTION ${SCHEMA}.mailbox_store; DELETE FROM ${SCHEMA}.schema_migrations WHERE version >= 2`)
    await sql.end()
    const upgraded = await openPostgresStore(url, LIMITS)
    try {
      assert.deepEqual(await upgraded.mediations.get('did:ex:v1-client'), { client: 'did:ex:v1-client', grantedAt: 9 })
      assert.equal((await upgraded.mailbox.status('did:ex:v1-client')).count, 1)
      const device = { id: 'dev', client: 'did:ex:v1-client', kind: 'apns' as const, token: 'tok', registeredAt: 11 }
      assert.deepEqual(await upgraded.pushDevices.register(device, 10), device)
    } finally {
      await upgraded.close()
    }
  })
})
