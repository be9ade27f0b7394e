import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import postgres from 'postgres'
import { openLevelStore } from '../../storage/level/store.ts'
import { TestAgent, sendTo } from '../helpers/client.ts'
import { exitOf, field, killAll, launchStart, run } from '../helpers/cli.ts'
import type { Running } from '../helpers/cli.ts'
import { tempDir } from '../helpers/node.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'

const PORTS = ['--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn']

async function stop (node: Running): Promise<void> {
  node.child.kill('SIGTERM')
  assert.equal(await exitOf(node.child, 30_000), 0, node.stderr())
}

describe('didcomm-mesh backup, store copy and migrate', () => {
  let server: TestPostgres
  let work: Awaited<ReturnType<typeof tempDir>>
  before(async () => {
    server = await startTestPostgres()
    work = await tempDir()
  })
  after(async () => {
    killAll()
    await server.stop()
    await work.remove()
  })

  // Proves the backup a running node writes is a data dir a node starts on (same DID) with every
  // queued message, that `store copy` moves it into PostgreSQL whole, and what each refuses.
  it('backs up a running node; a node on the backup, then on its copy in PostgreSQL, hands every message over', async () => {
    const nodeDir = join(work.path, 'node')
    const node = await launchStart(['--data-dir', nodeDir, ...PORTS])
    const url = field(node.stdout(), 'HTTP') as string
    const did = field(node.stdout(), 'mediator DID') as string
    const peerId = field(node.stdout(), 'peer ID')
    const { wallet, pairwise } = await TestAgent.mediatedWallet({ url, did })
    const sent = await Promise.all(Array.from({ length: 30 }, async (_, i) => await sendTo({ url }, pairwise, `queued ${i}`)))

    const backupDir = join(work.path, 'backup')
    const backup = await run(['backup', backupDir, '--url', url, '--data-dir', nodeDir])
    assert.equal(backup.code, 0, backup.stderr)
    assert.match(backup.stdout, /backed up \d+ records and the node key into .*backup/)
    const again = await run(['backup', backupDir, '--url', url, '--data-dir', nodeDir])
    assert.equal(again.code, 2)
    assert.match(again.stderr, /is not empty/)
    const locked = await run(['store', 'copy', '--from', nodeDir, '--to', join(work.path, 'elsewhere')])
    assert.equal(locked.code, 1)
    assert.match(locked.stderr, /open in another process \(a running node\?\)/)
    await stop(node)

    const restored = await launchStart(['--data-dir', backupDir, ...PORTS])
    const restoredUrl = field(restored.stdout(), 'HTTP') as string
    // The same key (another port makes another DID, but the node answers to every DID it has had).
    assert.equal(field(restored.stdout(), 'peer ID'), peerId)
    const fromBackup = await wallet.pickup(restoredUrl, did)
    assert.deepEqual(fromBackup.map(r => r.message.id).sort(), sent.map(m => m.id).sort())
    await stop(restored)

    const database = await server.createDatabase()
    const copied = await run(['store', 'copy', '--from', backupDir, '--to', database])
    assert.equal(copied.code, 0, copied.stderr)
    assert.match(copied.stdout, /copied 1 clients, 1 recipients, 30 queued messages, 0 outbox entries, 0 used invitations, 0 push devices, 2 mediator DIDs/)
    const twice = await run(['store', 'copy', '--from', backupDir, '--to', database])
    assert.equal(twice.code, 2)
    assert.match(twice.stderr, /the target store is not empty \(it holds mediations, messages/)

    // The copy serves: a node on it (the backup's key, the database's store) hands everything over.
    const onPostgres = await launchStart(['--data-dir', backupDir, '--store', database, ...PORTS])
    const received = await wallet.pickup(field(onPostgres.stdout(), 'HTTP') as string, did, { ack: true })
    assert.deepEqual(received.map(r => r.message.content).sort(), sent.map(m => m.content).sort())
    await stop(onPostgres)

    const toPostgres = await run(['backup', join(work.path, 'pg-backup'), '--data-dir', backupDir, '--store', database])
    assert.equal(toPostgres.code, 2)
    assert.match(toPostgres.stderr, /pg_dump/)
  })

  // Proves migrate reports versions before and after, for PostgreSQL and LevelDB, and refuses what it cannot upgrade.
  it('migrate: applies the schema and says so, finds nothing to do next time, refuses a newer schema or no store', async () => {
    const database = await server.createDatabase()
    const first = await run(['migrate', '--store', database])
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.stdout.trim(), 'PostgreSQL schema version none → 3')
    const second = await run(['migrate'], 30_000, { DIDCOMM_MESH_STORE: database })
    assert.equal(second.stdout.trim(), 'PostgreSQL schema version 3 → 3 (already current)')

    const sql = postgres(database, { onnotice: () => {} })
    await sql`INSERT INTO didcomm_mesh.schema_migrations (version) VALUES (999)`
    await sql.end()
    const newer = await run(['migrate', '--store', database])
    assert.equal(newer.code, 1)
    assert.match(newer.stderr, /schema is at version 999, newer than this node's 3: upgrade the node/)

    const levelDir = join(work.path, 'migrate-level')
    await (await openLevelStore(levelDir, { mailbox: { maxMessages: 1, maxBytes: 1 } })).close()
    const level = await run(['migrate', '--data-dir', levelDir])
    assert.equal(level.code, 0, level.stderr)
    assert.equal(level.stdout.trim(), 'LevelDB layout version 3 → 3 (already current)')

    const empty = join(work.path, 'empty')
    await mkdir(empty)
    await writeFile(join(empty, 'notes.txt'), 'not a store')
    const none = await run(['migrate', '--data-dir', empty])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /no LevelDB store in .*empty/)
  })
})
