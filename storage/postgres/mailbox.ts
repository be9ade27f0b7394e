import { MailboxFullError, contentHash, perBoxLimit } from '../store.ts'
import type { Mailbox, MailboxLimits, MailboxStatus, QueuedMessage } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database, Queryable } from './database.ts'
import type { Batch, GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'

const BOXES = `${SCHEMA}.mailbox_boxes`
const MESSAGES = `${SCHEMA}.mailbox_messages`

/**
 * Stores messages and counts them in their boxes' totals (see mailbox_store, schema step 3), a
 * group's worth in one statement; they come sorted by box, so two processes' groups lock boxes in one
 * order and cannot deadlock over them.
 */
const STORE = `SELECT stored, refused, queued_messages, queued_bytes FROM ${SCHEMA}.mailbox_store($1::bytea[], $2::text[], $3::bigint[], $4::integer[], $5::text[], $6::integer, $7::bigint)`

/**
 * A box's totals less the excluded messages (looked up by id), and the oldest and newest of the
 * rest (each an index walk that skips at most the excluded): a few reads per excluded id, however
 * many messages wait. One statement, so totals and messages are read at one instant.
 */
const STATUS = `
  SELECT b.messages - x.messages AS count, b.bytes - x.bytes AS bytes,
    (SELECT received_at FROM ${MESSAGES} WHERE box = $1 AND id <> ALL($2::text[]) ORDER BY received_at, id LIMIT 1) AS oldest,
    (SELECT received_at FROM ${MESSAGES} WHERE box = $1 AND id <> ALL($2::text[]) ORDER BY received_at DESC, id DESC LIMIT 1) AS newest
  FROM ${BOXES} b,
    (SELECT count(*) AS messages, coalesce(sum(size), 0) AS bytes FROM ${MESSAGES} WHERE box = $1 AND id = ANY($2::text[])) x
  WHERE b.box = $1`

/**
 * At most $5 (perBoxLimit) from each box (an index walk apiece, keys and sizes only), then the oldest
 * `limit` of those while their sizes add up to no more than $4 (the first always), and only their messages read.
 */
const LIST = `
  WITH oldest AS (
    SELECT m.box, m.id, m.received_at, sum(m.size) OVER w AS running, row_number() OVER w AS n
    FROM unnest($1::bytea[]) AS r (box)
    CROSS JOIN LATERAL (
      SELECT box, id, received_at, size FROM ${MESSAGES}
      WHERE box = r.box AND id <> ALL($2::text[])
      ORDER BY received_at, id LIMIT $5
    ) m
    WINDOW w AS (ORDER BY m.received_at, m.id)
    ORDER BY m.received_at, m.id LIMIT $3
  )
  SELECT o.id, o.received_at, m.size, m.message
  FROM oldest o JOIN ${MESSAGES} m ON m.box = o.box AND m.id = o.id
  WHERE o.running <= $4 OR o.n = 1
  ORDER BY o.received_at, o.id`

/**
 * The oldest unclaimed (or own, or lapsed) messages of the boxes, within $7 bytes as LIST, claimed:
 * rows another replica is claiming right now are skipped, not waited for.
 */
const CLAIM = `
  WITH candidates AS (
    SELECT box, id, received_at, size FROM ${MESSAGES}
    WHERE box = ANY($1::bytea[]) AND id <> ALL($2::text[]) AND (claimed_by = $4 OR claimed_until < $6)
    ORDER BY received_at, id LIMIT $3
    FOR UPDATE SKIP LOCKED
  ), chosen AS (
    SELECT box, id FROM (
      SELECT box, id, sum(size) OVER w AS running, row_number() OVER w AS n FROM candidates WINDOW w AS (ORDER BY received_at, id)
    ) c
    WHERE running <= $7 OR n = 1
  )
  UPDATE ${MESSAGES} m SET claimed_by = $4, claimed_until = $5
  FROM chosen
  WHERE m.box = chosen.box AND m.id = chosen.id
  RETURNING m.id, m.received_at, m.size, m.message`

/** Deletes the messages `where` selects and takes them off their boxes' totals; returns how many went. */
function deletion (where: string): string {
  return `
    WITH removed AS (
      DELETE FROM ${MESSAGES} WHERE ${where} RETURNING box, size
    ), per_box AS (
      SELECT box, count(*) AS messages, sum(size) AS bytes FROM removed GROUP BY box
    ), uncounted AS (
      UPDATE ${BOXES} b SET messages = b.messages - p.messages, bytes = b.bytes - p.bytes FROM per_box p WHERE b.box = p.box
    )
    SELECT coalesce(sum(messages), 0) AS removed FROM per_box`
}
const REMOVE = deletion('box = ANY($1::bytea[]) AND id = ANY($2::text[])')
const PURGE = deletion('box = ANY($1::bytea[])')
const SWEEP = deletion('received_at < $1')

interface Row { id: string, received_at: number, size: number, message: string }

interface Add { box: Buffer, id: string, receivedAt: number, size: number, message: string }
interface Stored { stored: boolean, refused: boolean, queued_messages: number | null, queued_bytes: number | null }

function queuedOf (row: Row): QueuedMessage {
  return { id: row.id, receivedAt: row.received_at, size: row.size, message: row.message }
}

/** The mailbox of one process: `holder` names its claims on messages it pushes live. */
export function createPostgresMailbox (db: Database, commit: GroupCommit, limits: MailboxLimits, holder: string): Mailbox {
  const boxesOf = (recipients: readonly string[]): Buffer[] => [...new Set(recipients)].map(hashOf)
  // Sorted in a group by the first box they lock, as adds are by theirs.
  const firstOf = (boxes: Buffer[]): string => boxes.map(box => box.toString('hex')).sort()[0] ?? ''

  const store: Batch<Add, Stored> = async (tx, adds) => await tx.query<Stored>(STORE, [
    adds.map(add => add.box), adds.map(add => add.id), adds.map(add => add.receivedAt), adds.map(add => add.size), adds.map(add => add.message),
    limits.maxMessages, limits.maxBytes
  ])

  async function deleted (tx: Queryable, statement: string, values: unknown[]): Promise<number> {
    const [row] = await tx.query<{ removed: number }>(statement, values)
    return row?.removed ?? 0
  }

  return {
    async add (recipient, message, now = Date.now()) {
      const box = hashOf(recipient)
      const id = contentHash(message)
      const row = await commit.runBatched(store, { box, id, receivedAt: now, size: Buffer.byteLength(message), message }, box.toString('hex'))
      if (row.refused) throw new MailboxFullError(`mailbox full: ${row.queued_messages ?? 0} messages, ${row.queued_bytes ?? 0} bytes queued`)
      if (!row.stored) return { id, duplicate: true }
      return { id, duplicate: false, queued: { messages: row.queued_messages ?? 0, bytes: row.queued_bytes ?? 0 } }
    },

    async status (recipient, exclude = new Set()) {
      const [row] = await db.query<{ count: number, bytes: number, oldest: number | null, newest: number | null }>(STATUS, [hashOf(recipient), [...exclude]])
      if (row === undefined || row.count === 0) return { count: 0, bytes: 0 }
      const status: MailboxStatus = { count: row.count, bytes: row.bytes }
      if (row.oldest !== null) status.oldest = row.oldest
      if (row.newest !== null) status.newest = row.newest
      return status
    },

    async claim (recipients, limit, exclude, leaseMs, maxBytes = Number.MAX_SAFE_INTEGER) {
      if (limit <= 0) return []
      const now = Date.now()
      const rows = await db.query<Row>(CLAIM, [boxesOf(recipients), [...exclude], limit, holder, now + leaseMs, now, Math.min(maxBytes, Number.MAX_SAFE_INTEGER)])
      return rows.map(queuedOf).sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1))
    },

    async list (recipients, limit, exclude = new Set(), maxBytes = Number.MAX_SAFE_INTEGER) {
      if (limit <= 0) return []
      const boxes = boxesOf(recipients)
      const rows = await db.query<Row>(LIST, [boxes, [...exclude], limit, Math.min(maxBytes, Number.MAX_SAFE_INTEGER), perBoxLimit(limit, boxes.length)])
      return rows.map(queuedOf)
    },

    async remove (recipients, ids) {
      const boxes = boxesOf(recipients)
      return await commit.run(async tx => await deleted(tx, REMOVE, [boxes, [...new Set(ids)]]), firstOf(boxes))
    },

    async sweep (before) {
      return await commit.run(async tx => await deleted(tx, SWEEP, [before]))
    },

    async queued () {
      const [row] = await db.query<{ messages: number, bytes: number }>(`SELECT coalesce(sum(messages), 0) AS messages, coalesce(sum(bytes), 0) AS bytes FROM ${BOXES}`)
      return { messages: row?.messages ?? 0, bytes: row?.bytes ?? 0 }
    },

    async * entries (recipient) {
      const box = hashOf(recipient)
      const rows = paged<Row>(async (last, limit) => await db.query<Row>(`
        SELECT id, received_at, size, message FROM ${MESSAGES}
        WHERE box = $1 AND (received_at, id) > ($2, $3) ORDER BY received_at, id LIMIT $4`,
      [box, last?.received_at ?? -1, last?.id ?? '', limit]))
      for await (const row of rows) yield { id: row.id, receivedAt: row.received_at, size: row.size, message: row.message }
    },

    async purge (recipients) {
      const boxes = boxesOf(recipients)
      return await commit.run(async tx => await deleted(tx, PURGE, [boxes]), firstOf(boxes))
    }
  }
}
