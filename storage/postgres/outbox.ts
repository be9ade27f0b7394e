import { contentHash } from '../store.ts'
import type { OutboxEntry, OutboxStore } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database } from './database.ts'
import type { GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'

const OUTBOX = `${SCHEMA}.outbox`

interface Row {
  id: string
  next: string
  message: string
  enqueued_at: number
  expires_at: number
  sender: string
  origin: string | null
  thid: string | null
  attempts: number
  size: number
}

function entryOf (row: Row): OutboxEntry {
  const { origin, thid, enqueued_at: enqueuedAt, expires_at: expiresAt, ...rest } = row
  return { ...rest, enqueuedAt, expiresAt, ...(origin === null ? {} : { origin }), ...(thid === null ? {} : { thid }) }
}

/**
 * The outbox of one process: `holder` names its claims, and `release`
 * lets go of them when it closes, so another replica takes its relays over at once.
 */
export function createPostgresOutbox (db: Database, commit: GroupCommit, holder: string): OutboxStore & { release(): Promise<void> } {
  return {
    async add (fields, leaseMs) {
      const nextHash = hashOf(fields.next)
      const id = contentHash(fields.message)
      // Kept once per next hop by the primary key: a second add (even one racing the first, from any
      // process) inserts nothing. Claimed as it is written when asked: no other replica takes it meanwhile.
      const inserted = await commit.run(async tx => await tx.query(`
        INSERT INTO ${OUTBOX} (next_hash, id, next, message, enqueued_at, expires_at, sender, origin, thid, size, claimed_by, claimed_until)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (next_hash, id) DO NOTHING RETURNING 1`,
      [nextHash, id, fields.next, fields.message, fields.enqueuedAt, fields.expiresAt, fields.sender, fields.origin ?? null, fields.thid ?? null, fields.size,
        leaseMs === undefined ? null : holder, leaseMs === undefined ? 0 : Date.now() + leaseMs]),
      nextHash.toString('hex'))
      return inserted.length === 0 ? { duplicate: true } : { duplicate: false, entry: { ...fields, id, attempts: 0 } }
    },

    async remove (entry) {
      const nextHash = hashOf(entry.next)
      await commit.run(async tx => await tx.query(`DELETE FROM ${OUTBOX} WHERE next_hash = $1 AND id = $2`, [nextHash, entry.id]), nextHash.toString('hex'))
    },

    async attempted (entry) {
      const nextHash = hashOf(entry.next)
      await commit.run(async tx => await tx.query(`UPDATE ${OUTBOX} SET attempts = $3 WHERE next_hash = $1 AND id = $2`, [nextHash, entry.id, entry.attempts]), nextHash.toString('hex'))
    },

    async claim (next, limit, leaseMs) {
      // Rows another replica is claiming right now are skipped, not waited for; this one's own claims
      // (a window read again after a backoff) and lapsed ones (a replica that died) are taken.
      const now = Date.now()
      const rows = await db.query<Row>(`
        UPDATE ${OUTBOX} SET claimed_by = $3, claimed_until = $4
        WHERE (next_hash, id) IN (
          SELECT next_hash, id FROM ${OUTBOX}
          WHERE next_hash = $1 AND (claimed_by = $3 OR claimed_until < $5)
          ORDER BY enqueued_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING id, next, message, enqueued_at, expires_at, sender, origin, thid, attempts, size`,
      [hashOf(next), limit, holder, now + leaseMs, now])
      return rows.map(entryOf).sort((a, b) => a.enqueuedAt - b.enqueuedAt || (a.id < b.id ? -1 : 1))
    },

    async release () {
      await db.query(`UPDATE ${OUTBOX} SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = $1`, [holder])
    },

    async * entries () {
      // Paged by the primary key; the hash is read only to say where the next page starts.
      const rows = paged<Row & { next_hash: Buffer }>(async (last, limit) => await db.query(`
        SELECT next_hash, id, next, message, enqueued_at, expires_at, sender, origin, thid, attempts, size FROM ${OUTBOX}
        WHERE (next_hash, id) > ($1, $2) ORDER BY next_hash, id LIMIT $3`,
      [last?.next_hash ?? Buffer.alloc(0), last?.id ?? '', limit]))
      for await (const { next_hash: _page, ...row } of rows) yield entryOf(row)
    },

    async counts () {
      const rows = await db.query<{ next: string, sender: string, entries: number, bytes: number }>(`
        SELECT next, sender, count(*) AS entries, sum(size) AS bytes FROM ${OUTBOX} GROUP BY next, sender`)
      const hops = new Map<string, number>()
      const senders = new Map<string, number>()
      let bytes = 0
      for (const row of rows) {
        hops.set(row.next, (hops.get(row.next) ?? 0) + row.entries)
        senders.set(row.sender, (senders.get(row.sender) ?? 0) + row.entries)
        bytes += row.bytes
      }
      return { hops, senders, bytes }
    }
  }
}
