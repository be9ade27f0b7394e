import { MailboxFullError, contentHash } from '../store.ts'
import type { Mailbox, MailboxLimits, MailboxStatus, QueuedMessage } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database, Queryable } from './database.ts'
import type { GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'

const BOXES = `${SCHEMA}.mailbox_boxes`
const MESSAGES = `${SCHEMA}.mailbox_messages`

/**
 * Stores the message and counts it in its box's totals, in one statement. The insert comes first:
 * a message already there (or being stored by another transaction, which it waits for) is a
 * duplicate and counts nothing. The count is an upsert whose condition is the quota, evaluated on
 * the box row it locks, so concurrent adds from any process queue on that row and the quota is exact.
 */
const STORE = `
  WITH stored AS (
    INSERT INTO ${MESSAGES} (box, id, received_at, size, message) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (box, id) DO NOTHING
    RETURNING size
  ), counted AS (
    INSERT INTO ${BOXES} AS b (box, messages, bytes)
    SELECT $1, 1, size FROM stored WHERE $6::integer >= 1 AND size <= $7::bigint
    ON CONFLICT (box) DO UPDATE SET messages = b.messages + 1, bytes = b.bytes + excluded.bytes
    WHERE b.messages + 1 <= $6::integer AND b.bytes + excluded.bytes <= $7::bigint
    RETURNING messages, bytes
  )
  SELECT EXISTS (SELECT FROM stored) AS stored, EXISTS (SELECT FROM counted) AS counted,
    (SELECT messages FROM counted) AS messages, (SELECT bytes FROM counted) AS bytes`

/** Takes back a message stored but not counted (its box is full), and reads the totals that refused it. */
const UNSTORE = `
  WITH unstored AS (DELETE FROM ${MESSAGES} WHERE box = $1 AND id = $2)
  SELECT messages, bytes FROM ${BOXES} WHERE box = $1`

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

/** At most `limit` from each box (an index walk apiece), then the oldest `limit` of those. */
const LIST = `
  SELECT m.id, m.received_at, m.size, m.message
  FROM unnest($1::bytea[]) AS r (box)
  CROSS JOIN LATERAL (
    SELECT id, received_at, size, message FROM ${MESSAGES}
    WHERE box = r.box AND id <> ALL($2::text[])
    ORDER BY received_at, id LIMIT $3
  ) m
  ORDER BY m.received_at, m.id LIMIT $3`

/**
 * The oldest unclaimed (or own, or lapsed) messages of the boxes, claimed: rows another replica is
 * claiming right now are skipped, not waited for.
 */
const CLAIM = `
  UPDATE ${MESSAGES} m SET claimed_by = $4, claimed_until = $5
  FROM (
    SELECT box, id FROM ${MESSAGES}
    WHERE box = ANY($1::bytea[]) AND id <> ALL($2::text[]) AND (claimed_by = $4 OR claimed_until < $6)
    ORDER BY received_at, id LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) chosen
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

type AddOutcome = { stored: boolean, queued?: { messages: number, bytes: number } } | { full: { messages: number, bytes: number } }

function queuedOf (row: Row): QueuedMessage {
  return { id: row.id, receivedAt: row.received_at, size: row.size, message: row.message }
}

/** The mailbox of one process: `holder` names its claims on messages it pushes live. */
export function createPostgresMailbox (db: Database, commit: GroupCommit, limits: MailboxLimits, holder: string): Mailbox {
  const boxesOf = (recipients: readonly string[]): Buffer[] => [...new Set(recipients)].map(hashOf)
  // Sorted in a group by the first box they lock, as adds are by theirs.
  const firstOf = (boxes: Buffer[]): string => boxes.map(box => box.toString('hex')).sort()[0] ?? ''

  async function deleted (tx: Queryable, statement: string, values: unknown[]): Promise<number> {
    const [row] = await tx.query<{ removed: number }>(statement, values)
    return row?.removed ?? 0
  }

  return {
    async add (recipient, message, now = Date.now()) {
      const box = hashOf(recipient)
      const id = contentHash(message)
      const outcome = await commit.run(async (tx): Promise<AddOutcome> => {
        const [row] = await tx.query<{ stored: boolean, counted: boolean, messages: number, bytes: number }>(STORE, [box, id, now, Buffer.byteLength(message), message, limits.maxMessages, limits.maxBytes])
        if (row?.stored !== true) return { stored: false }
        if (row.counted) return { stored: true, queued: { messages: row.messages, bytes: row.bytes } }
        const [totals] = await tx.query<{ messages: number, bytes: number }>(UNSTORE, [box, id])
        return { full: totals ?? { messages: 0, bytes: 0 } }
      }, box.toString('hex'))
      if ('full' in outcome) throw new MailboxFullError(`mailbox full: ${outcome.full.messages} messages, ${outcome.full.bytes} bytes queued`)
      return { id, duplicate: !outcome.stored, ...(outcome.queued === undefined ? {} : { queued: outcome.queued }) }
    },

    async status (recipient, exclude = new Set()) {
      const [row] = await db.query<{ count: number, bytes: number, oldest: number | null, newest: number | null }>(STATUS, [hashOf(recipient), [...exclude]])
      if (row === undefined || row.count === 0) return { count: 0, bytes: 0 }
      const status: MailboxStatus = { count: row.count, bytes: row.bytes }
      if (row.oldest !== null) status.oldest = row.oldest
      if (row.newest !== null) status.newest = row.newest
      return status
    },

    async claim (recipients, limit, exclude, leaseMs) {
      if (limit <= 0) return []
      const now = Date.now()
      const rows = await db.query<Row>(CLAIM, [boxesOf(recipients), [...exclude], limit, holder, now + leaseMs, now])
      return rows.map(queuedOf).sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1))
    },

    async list (recipients, limit, exclude = new Set()) {
      if (limit <= 0) return []
      const rows = await db.query<Row>(LIST, [boxesOf(recipients), [...exclude], limit])
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
