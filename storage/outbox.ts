import { messageId } from './mailbox.ts'
import { readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

/** A packed message waiting to be relayed to another mediator. */
export interface OutboxEntry {
  /** base64url sha-256 of the packed message */
  id: string
  /** The mediator DID it goes to (the forward's `next`). */
  next: string
  message: string
  /** epoch milliseconds */
  enqueuedAt: number
  expiresAt: number
  /** The local client that sent it, told with a problem report if it cannot be delivered. */
  origin?: string
  /** The id of the client's forward, for that problem report's pthid. */
  thid?: string
}

export interface OutboxStore {
  /** Durable (synced). The same message for the same next hop is kept once. */
  add(entry: Omit<OutboxEntry, 'id'>): Promise<{ entry: OutboxEntry, duplicate: boolean }>
  remove(entry: OutboxEntry): Promise<void>
  /** Everything waiting, grouped by next hop and oldest first within each. */
  all(): Promise<OutboxEntry[]>
}

const SEP = '\x00'

export function createLevelOutbox (db: Database, commit: GroupCommit): OutboxStore {
  const entries: Sublevel = sublevel(db, 'outbox')
  // next␀id → entry key, for dedupe and removal.
  const byId: Sublevel = sublevel(db, 'outbox-ids')
  const keyOf = (entry: OutboxEntry): string => [entry.next, String(entry.enqueuedAt).padStart(15, '0'), entry.id].join(SEP)

  return {
    async add (fields) {
      const entry: OutboxEntry = { id: messageId(fields.message), ...fields }
      const existing = await readKey(byId, entry.next + SEP + entry.id) as string | undefined
      if (existing !== undefined) return { entry: await readKey(entries, existing) as OutboxEntry, duplicate: true }
      const key = keyOf(entry)
      await commit.write([
        { type: 'put', sublevel: entries, key, value: entry },
        { type: 'put', sublevel: byId, key: entry.next + SEP + entry.id, value: key }
      ])
      return { entry, duplicate: false }
    },

    async remove (entry) {
      await commit.write([
        { type: 'del', sublevel: entries, key: keyOf(entry) },
        { type: 'del', sublevel: byId, key: entry.next + SEP + entry.id }
      ])
    },

    async all () {
      return await entries.values().all() as OutboxEntry[]
    }
  }
}
