import { createHash } from 'node:crypto'
import { MailboxFullError, contentHash, perBoxLimit, withinBytes } from '../store.ts'
import type { AddResult, Mailbox, MailboxLimits, MailboxStatus } from '../store.ts'
import { BoxFloors } from './box-floors.ts'
import { KEY_SEPARATOR, readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

const TIME_WIDTH = 15
/** Boxes whose scan floor is kept (each ~130 bytes); past this the least recently touched starts from its head again. */
const FLOOR_BOXES = 10_000

/**
 * A recipient's mailbox is named by a short hash of its DID, not the DID itself: a did:peer:2 runs
 * to hundreds of characters, and it would stand in every key of every message.
 */
function boxOf (recipient: string): string {
  return createHash('sha256').update(recipient).digest('base64url').slice(0, 22)
}

/**
 * Keys sort by box, then arrival time: `box␀time␀id␀size`. Status and listing read keys by range
 * and never scan other boxes; id, time and size live in the key, so counting reads no values and
 * the value is the packed message alone.
 */
function messageKey (box: string, receivedAt: number, id: string, size: number): string {
  return [box, String(receivedAt).padStart(TIME_WIDTH, '0'), id, String(size)].join(KEY_SEPARATOR)
}

function parseKey (key: string): { box: string, receivedAt: number, id: string, size: number } {
  const [box = '', time = '0', id = '', size = '0'] = key.split(KEY_SEPARATOR)
  return { box, receivedAt: Number(time), id, size: Number(size) }
}

function boxRange (box: string): { gt: string, lt: string } {
  return { gt: box + KEY_SEPARATOR, lt: box + KEY_SEPARATOR + '\xff' }
}

export function createLevelMailbox (db: Database, commit: GroupCommit, limits: MailboxLimits): Mailbox {
  // Values are the packed messages as they arrived (utf8, not JSON: no escaping of their quotes).
  const messages = db.sublevel<string, string>('mailbox', { valueEncoding: 'utf8' }) as unknown as Sublevel
  // box␀id → message key, to find a message by id (delete) and to dedupe.
  const byId: Sublevel = sublevel(db, 'mailbox-ids')
  // Per-box totals, counted once from disk and then kept in step with every write made here, so
  // that quota checks and status cost no scan and stay exact under concurrent writes.
  const totals = new Map<string, Promise<{ count: number, bytes: number }>>()
  // Writes under way, so a retry that races its original is still stored once.
  const writing = new Map<string, Promise<AddResult>>()
  const deleting = new Set<string>()
  // All boxes together, for metrics: counted from disk as the mailbox opens (before any write of
  // this process: the scan reads a snapshot), with every later write added as it commits.
  const overall = { messages: 0, bytes: 0 }
  const counted = (async () => {
    for await (const key of messages.keys()) {
      overall.messages++
      overall.bytes += parseKey(key).size
    }
  })()

  const floors = new BoxFloors(FLOOR_BOXES)

  /** A box's keys, oldest first (newest first if `reverse`); a forward scan starts at the box's floor and raises it. */
  async function * keys (box: string, reverse = false): AsyncGenerator<ReturnType<typeof parseKey> & { key: string }> {
    const range = boxRange(box)
    if (reverse) {
      for await (const key of messages.keys({ ...range, reverse })) yield { key, ...parseKey(key) }
      return
    }
    const { from, ticket } = floors.start(box)
    let empty = true
    for await (const key of messages.keys(from === undefined ? range : { gte: from, lt: range.lt })) {
      if (empty) floors.raise(box, ticket, key)
      empty = false
      yield { key, ...parseKey(key) }
    }
    if (empty) floors.raise(box, ticket, range.lt)
  }

  function totalsOf (box: string): Promise<{ count: number, bytes: number }> {
    let total = totals.get(box)
    if (total === undefined) {
      total = (async () => {
        const counted = { count: 0, bytes: 0 }
        for await (const entry of keys(box)) {
          counted.count++
          counted.bytes += entry.size
        }
        return counted
      })()
      totals.set(box, total)
    }
    return total
  }

  /** Deletes message keys in one batch and takes them off the totals. */
  async function deleteKeys (candidates: string[]): Promise<number> {
    // A key already being deleted by a concurrent call (two acknowledgements of one id) counts once.
    const keysToDelete = [...new Set(candidates)].filter(key => !deleting.has(key))
    if (keysToDelete.length === 0) return 0
    for (const key of keysToDelete) deleting.add(key)
    try {
      return await deleteNow(keysToDelete)
    } finally {
      for (const key of keysToDelete) deleting.delete(key)
    }
  }

  async function deleteNow (keysToDelete: string[]): Promise<number> {
    const entries = keysToDelete.map(parseKey)
    await Promise.all(entries.map(async entry => await totalsOf(entry.box)))
    await commit.write(keysToDelete.flatMap((key, i) => {
      const entry = entries[i] as ReturnType<typeof parseKey>
      return [{ type: 'del' as const, sublevel: messages, key }, { type: 'del' as const, sublevel: byId, key: entry.box + KEY_SEPARATOR + entry.id }]
    }))
    for (const entry of entries) {
      const total = await totalsOf(entry.box)
      total.count--
      total.bytes -= entry.size
      overall.messages--
      overall.bytes -= entry.size
    }
    return entries.length
  }

  async function add (box: string, message: string, now: number): Promise<AddResult> {
    const id = contentHash(message)
    if (await readKey(byId, box + KEY_SEPARATOR + id) !== undefined) return { id, duplicate: true }
    const size = Buffer.byteLength(message)
    const total = await totalsOf(box)
    if (total.count + 1 > limits.maxMessages || total.bytes + size > limits.maxBytes) {
      throw new MailboxFullError(`mailbox full: ${total.count} messages, ${total.bytes} bytes queued`)
    }
    // Reserve before the write, so concurrent adds cannot overrun the quota together.
    total.count++
    total.bytes += size
    const key = messageKey(box, now, id, size)
    try {
      await commit.write([
        { type: 'put', sublevel: messages, key, value: message },
        { type: 'put', sublevel: byId, key: box + KEY_SEPARATOR + id, value: key }
      ])
      floors.lower(box, key)
    } catch (err) {
      total.count--
      total.bytes -= size
      throw err
    }
    overall.messages++
    overall.bytes += size
    return { id, duplicate: false, queued: { messages: total.count, bytes: total.bytes } }
  }

  return {
    async add (recipient, message, now = Date.now()) {
      const box = boxOf(recipient)
      const slot = box + KEY_SEPARATOR + contentHash(message)
      const earlier = writing.get(slot)
      if (earlier !== undefined) return { id: (await earlier).id, duplicate: true }
      const write = add(box, message, now)
      writing.set(slot, write)
      try {
        return await write
      } finally {
        writing.delete(slot)
      }
    },

    async status (recipient, exclude = new Set()) {
      const box = boxOf(recipient)
      const { count, bytes } = await totalsOf(box)
      if (count === 0) return { count, bytes }
      if (count <= exclude.size) {
        // No more messages than are in flight (a live client's unacknowledged pushes): counted
        // around them in one read of the box.
        const result: MailboxStatus = { count: 0, bytes: 0 }
        for await (const entry of keys(box)) {
          if (exclude.has(entry.id)) continue
          result.count++
          result.bytes += entry.size
          result.oldest ??= entry.receivedAt
          result.newest = entry.receivedAt
        }
        return result
      }
      // More: those in flight are looked up and taken off the totals, and skipped in looking for
      // the oldest and newest, so the cost follows the in-flight count, not the box's.
      const result: MailboxStatus = { count, bytes }
      for (const key of await byId.getMany([...exclude].map(id => box + KEY_SEPARATOR + id))) {
        if (typeof key !== 'string') continue
        result.count--
        result.bytes -= parseKey(key).size
      }
      for (const reverse of [false, true]) {
        for await (const entry of keys(box, reverse)) {
          if (exclude.has(entry.id)) continue
          if (reverse) result.newest = entry.receivedAt
          else result.oldest = entry.receivedAt
          break
        }
      }
      return result
    },

    // Only one process opens a LevelDB, so no claim ever contends: the lease is not recorded.
    async claim (recipients, limit, exclude, _leaseMs, maxBytes) {
      return await this.list(recipients, limit, exclude, maxBytes)
    },

    async list (recipients, limit, exclude, maxBytes = Infinity) {
      // Keys first (they hold time and size), values for the chosen ones only: a client holding many
      // recipients must not make the node read `limit` whole messages from each of them.
      let oldest: Array<ReturnType<typeof parseKey> & { key: string }> = []
      const boxes = new Set(recipients.map(boxOf))
      const share = perBoxLimit(limit, boxes.size)
      for (const box of boxes) {
        const newestWanted = oldest.length >= limit ? (oldest[limit - 1]?.receivedAt ?? Infinity) : Infinity
        let taken = 0
        for await (const entry of keys(box)) {
          if (taken >= share || entry.receivedAt > newestWanted) break
          if (exclude?.has(entry.id) === true) continue
          oldest.push(entry)
          taken++
        }
        oldest = oldest.sort((a, b) => a.receivedAt - b.receivedAt).slice(0, limit)
      }
      oldest = withinBytes(oldest, maxBytes)
      const values = await messages.getMany(oldest.map(entry => entry.key))
      // A message acknowledged meanwhile has no value any more.
      return oldest.flatMap(({ id, receivedAt, size }, i) => typeof values[i] === 'string' ? [{ id, receivedAt, size, message: values[i] }] : [])
    },

    async remove (recipients, ids) {
      const found: string[] = []
      const wanted = new Set(ids)
      for (const box of new Set(recipients.map(boxOf))) {
        // Per box, whichever is fewer: its keys (read in one range) or the ids (looked up one by one).
        // So the work is at most the client's queued messages, not recipients × ids.
        if ((await totalsOf(box)).count <= wanted.size) {
          for await (const entry of keys(box)) if (wanted.has(entry.id)) found.push(entry.key)
        } else {
          const messageKeys = await byId.getMany([...wanted].map(id => box + KEY_SEPARATOR + id))
          for (const key of messageKeys) if (typeof key === 'string') found.push(key)
        }
      }
      return await deleteKeys(found)
    },

    async queued () {
      await counted
      return { ...overall }
    },

    async * entries (recipient) {
      for await (const [key, message] of messages.iterator(boxRange(boxOf(recipient)))) {
        const { id, receivedAt, size } = parseKey(key)
        yield { id, receivedAt, size, message: message as string }
      }
    },

    async sweep (before) {
      const expired: string[] = []
      for await (const key of messages.keys()) {
        if (parseKey(key).receivedAt < before) expired.push(key)
      }
      return await deleteKeys(expired)
    },

    async purge (recipients) {
      const found: string[] = []
      for (const recipient of recipients) {
        for await (const entry of keys(boxOf(recipient))) found.push(entry.key)
      }
      return await deleteKeys(found)
    }
  }
}
