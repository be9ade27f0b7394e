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

  async function * keys (recipient: string): AsyncGenerator<ReturnType<typeof parseKey> & { key: string }> {
    for await (const key of messages.keys(recipientRange(recipient))) yield { key, ...parseKey(key) }
  }

  async function status (recipient: string, exclude?: ReadonlySet<string>): Promise<MailboxStatus> {
    const result: MailboxStatus = { count: 0, bytes: 0 }
    for await (const entry of keys(recipient)) {
      if (exclude?.has(entry.id) === true) continue
      result.count++
      result.bytes += entry.size
      result.oldest ??= entry.receivedAt
      result.newest = entry.receivedAt
    }
    return result
  }

  // Writes under way, so a retry that races its original is still stored once.
  const writing = new Map<string, Promise<AddResult>>()

  async function add (recipient: string, message: string, now: number): Promise<AddResult> {
    const id = messageId(message)
    if (await byId.get(recipient + SEP + id) !== undefined) return { id, duplicate: true }
      const size = Buffer.byteLength(message)
      const current = await status(recipient)
      if (current.count + 1 > limits.maxMessages || current.bytes + size > limits.maxBytes) {
        throw new MailboxFullError(`mailbox full: ${current.count} messages, ${current.bytes} bytes queued`)
      }
      const key = messageKey(recipient, now, id, size)
      const record: QueuedMessage = { id, recipient, receivedAt: now, size, message }
      await commit.write([
        { type: 'put', sublevel: messages, key, value: record },
        { type: 'put', sublevel: byId, key: recipient + SEP + id, value: key }
      ])
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

    status,

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
      const ops: Parameters<GroupCommit['write']>[0] = []
      for (const recipient of recipients) {
        const indexKeys = ids.map(id => recipient + SEP + id)
        const messageKeys = await byId.getMany(indexKeys)
        messageKeys.forEach((key, i) => {
          if (typeof key !== 'string') return
          ops.push({ type: 'del', sublevel: messages, key }, { type: 'del', sublevel: byId, key: indexKeys[i] as string })
        })
      }
      if (ops.length > 0) await commit.write(ops)
      return ops.length / 2
    },

    async sweep (before) {
      const ops: Parameters<GroupCommit['write']>[0] = []
      for await (const key of messages.keys()) {
        const entry = parseKey(key)
        if (entry.receivedAt < before) {
          ops.push({ type: 'del', sublevel: messages, key }, { type: 'del', sublevel: byId, key: entry.recipient + SEP + entry.id })
        }
      }
      if (ops.length > 0) await commit.write(ops)
      return ops.length / 2
    }
  }
}
