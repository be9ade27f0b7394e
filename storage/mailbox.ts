import { createHash } from 'node:crypto'
import { sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

/** One queued message for one recipient: the packed JWE exactly as it arrived. */
export interface QueuedMessage {
  /** base64url sha-256 of the packed message: the pickup attachment id, and the dedupe key. */
  id: string
  recipient: string
  /** epoch milliseconds */
  receivedAt: number
  size: number
  message: string
}

export interface MailboxStatus {
  count: number
  bytes: number
  /** epoch milliseconds, undefined when the mailbox is empty */
  oldest?: number
  newest?: number
}

export interface MailboxLimits {
  maxMessages: number
  maxBytes: number
}

export class MailboxFullError extends Error {
  override name = 'MailboxFullError'
}

export interface AddResult { id: string, duplicate: boolean }

export interface Mailbox {
  /** Stores a message durably (synced) and resolves only then. The same packed message is kept once. */
  add(recipient: string, message: string, now?: number): Promise<AddResult>
  status(recipient: string, exclude?: ReadonlySet<string>): Promise<MailboxStatus>
  /** Oldest first. */
  list(recipient: string, limit: number, exclude?: ReadonlySet<string>): Promise<QueuedMessage[]>
  /** Deletes the given ids among the given recipients' messages; returns how many were deleted. */
  remove(recipients: readonly string[], ids: readonly string[]): Promise<number>
  /** Deletes messages received before `before` (epoch ms); returns how many. */
  sweep(before: number): Promise<number>
}

export function messageId (message: string): string {
  return createHash('sha256').update(message).digest('base64url')
}

const SEP = '\x00'
const TIME_WIDTH = 15

/**
 * Keys sort by recipient, then arrival time: `recipient␀time␀id␀size`. Status and listing read keys
 * by range and never scan other recipients; size lives in the key so counting reads no values.
 */
function messageKey (recipient: string, receivedAt: number, id: string, size: number): string {
  return [recipient, String(receivedAt).padStart(TIME_WIDTH, '0'), id, String(size)].join(SEP)
}

function parseKey (key: string): { recipient: string, receivedAt: number, id: string, size: number } {
  const [recipient = '', time = '0', id = '', size = '0'] = key.split(SEP)
  return { recipient, receivedAt: Number(time), id, size: Number(size) }
}

function recipientRange (recipient: string): { gt: string, lt: string } {
  return { gt: recipient + SEP, lt: recipient + SEP + '\xff' }
}

export function createLevelMailbox (db: Database, commit: GroupCommit, limits: MailboxLimits): Mailbox {
  const messages: Sublevel = sublevel(db, 'mailbox')
  // recipient␀id → message key, to find a message by id (delete) and to dedupe.
  const byId: Sublevel = sublevel(db, 'mailbox-ids')
  // Per-recipient totals, counted once from disk and then kept in step with every write made here, so
  // that quota checks and status cost no scan and stay exact under concurrent writes.
  const totals = new Map<string, Promise<{ count: number, bytes: number }>>()
  // Writes under way, so a retry that races its original is still stored once.
  const writing = new Map<string, Promise<AddResult>>()
  const deleting = new Set<string>()

  async function * keys (recipient: string): AsyncGenerator<ReturnType<typeof parseKey> & { key: string }> {
    for await (const key of messages.keys(recipientRange(recipient))) yield { key, ...parseKey(key) }
  }

  function totalsOf (recipient: string): Promise<{ count: number, bytes: number }> {
    let total = totals.get(recipient)
    if (total === undefined) {
      total = (async () => {
        const counted = { count: 0, bytes: 0 }
        for await (const entry of keys(recipient)) {
          counted.count++
          counted.bytes += entry.size
        }
        return counted
      })()
      totals.set(recipient, total)
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
    await Promise.all(entries.map(async entry => await totalsOf(entry.recipient)))
    await commit.write(keysToDelete.flatMap((key, i) => {
      const entry = entries[i] as ReturnType<typeof parseKey>
      return [{ type: 'del' as const, sublevel: messages, key }, { type: 'del' as const, sublevel: byId, key: entry.recipient + SEP + entry.id }]
    }))
    for (const entry of entries) {
      const total = await totalsOf(entry.recipient)
      total.count--
      total.bytes -= entry.size
    }
    return entries.length
  }

  async function add (recipient: string, message: string, now: number): Promise<AddResult> {
    const id = messageId(message)
    if (await byId.get(recipient + SEP + id) !== undefined) return { id, duplicate: true }
    const size = Buffer.byteLength(message)
    const total = await totalsOf(recipient)
    if (total.count + 1 > limits.maxMessages || total.bytes + size > limits.maxBytes) {
      throw new MailboxFullError(`mailbox full: ${total.count} messages, ${total.bytes} bytes queued`)
    }
    // Reserve before the write, so concurrent adds cannot overrun the quota together.
    total.count++
    total.bytes += size
    const key = messageKey(recipient, now, id, size)
    const record: QueuedMessage = { id, recipient, receivedAt: now, size, message }
    try {
      await commit.write([
        { type: 'put', sublevel: messages, key, value: record },
        { type: 'put', sublevel: byId, key: recipient + SEP + id, value: key }
      ])
    } catch (err) {
      total.count--
      total.bytes -= size
      throw err
    }
    return { id, duplicate: false }
  }

  return {
    async add (recipient, message, now = Date.now()) {
      const slot = recipient + SEP + messageId(message)
      const earlier = writing.get(slot)
      if (earlier !== undefined) return { id: (await earlier).id, duplicate: true }
      const write = add(recipient, message, now)
      writing.set(slot, write)
      try {
        return await write
      } finally {
        writing.delete(slot)
      }
    },

    async status (recipient, exclude) {
      if (exclude !== undefined && exclude.size > 0) {
        // Few messages are in flight at once; counting around them needs the keys themselves.
        const result: MailboxStatus = { count: 0, bytes: 0 }
        for await (const entry of keys(recipient)) {
          if (exclude.has(entry.id)) continue
          result.count++
          result.bytes += entry.size
          result.oldest ??= entry.receivedAt
          result.newest = entry.receivedAt
        }
        return result
      }
      const { count, bytes } = await totalsOf(recipient)
      if (count === 0) return { count, bytes }
      const [first] = await messages.keys({ ...recipientRange(recipient), limit: 1 }).all()
      const [last] = await messages.keys({ ...recipientRange(recipient), limit: 1, reverse: true }).all()
      return { count, bytes, oldest: parseKey(first ?? '').receivedAt, newest: parseKey(last ?? '').receivedAt }
    },

    async list (recipient, limit, exclude) {
      const found: QueuedMessage[] = []
      if (limit <= 0) return found
      for await (const [, value] of messages.iterator(recipientRange(recipient))) {
        const record = value as QueuedMessage
        if (exclude?.has(record.id) === true) continue
        found.push(record)
        if (found.length >= limit) break
      }
      return found
    },

    async remove (recipients, ids) {
      const found: string[] = []
      for (const recipient of recipients) {
        const messageKeys = await byId.getMany(ids.map(id => recipient + SEP + id))
        for (const key of messageKeys) if (typeof key === 'string') found.push(key)
      }
      return await deleteKeys(found)
    },

    async sweep (before) {
      const expired: string[] = []
      for await (const key of messages.keys()) {
        if (parseKey(key).receivedAt < before) expired.push(key)
      }
      return await deleteKeys(expired)
    }
  }
}
