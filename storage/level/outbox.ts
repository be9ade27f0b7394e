import { contentHash } from '../store.ts'
import type { OutboxEntry, OutboxStore } from '../store.ts'
import { KEY_SEPARATOR, readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

/** What the index keeps per entry: where the message is, and the small fields that change or are counted. */
export interface OutboxIndexRecord { key: string, sender: string, attempts: number, size: number }

export function createLevelOutbox (db: Database, commit: GroupCommit): OutboxStore {
  // next␀enqueuedAt␀id → entry without the index's fields: sorted by next hop, then oldest first.
  const entries: Sublevel = sublevel(db, 'outbox')
  // next␀id → OutboxIndexRecord, for dedupe, removal, attempts and counting.
  const index: Sublevel = sublevel(db, 'outbox-ids')
  const keyOf = (entry: Pick<OutboxEntry, 'next' | 'enqueuedAt' | 'id'>): string => [entry.next, String(entry.enqueuedAt).padStart(15, '0'), entry.id].join(KEY_SEPARATOR)
  const indexKey = (entry: Pick<OutboxEntry, 'next' | 'id'>): string => entry.next + KEY_SEPARATOR + entry.id
  const writing = new Map<string, Promise<boolean>>()

  async function withIndex (stored: Omit<OutboxEntry, 'attempts' | 'sender' | 'size'>): Promise<OutboxEntry> {
    const record = await readKey(index, indexKey(stored)) as OutboxIndexRecord | undefined
    return { ...stored, sender: record?.sender ?? '', attempts: record?.attempts ?? 0, size: record?.size ?? Buffer.byteLength(stored.message) }
  }

  return {
    async add (fields) {
      const entry = { id: contentHash(fields.message), ...fields }
      const id = indexKey(entry)
      // The same message twice at once (a sender retrying) must not make two entries under one index
      // record: the second waits for the first write, and is a duplicate once that is durable.
      const under = writing.get(id)
      if (under !== undefined) {
        await under
        return { duplicate: true }
      }
      const key = keyOf(entry)
      const write = (async () => {
        if (await readKey(index, id) !== undefined) return true
        const { sender, size, ...stored } = entry
        await commit.write([
          { type: 'put', sublevel: entries, key, value: stored },
          { type: 'put', sublevel: index, key: id, value: { key, sender, attempts: 0, size } satisfies OutboxIndexRecord }
        ])
        return false
      })()
      writing.set(id, write)
      try {
        return await write ? { duplicate: true } : { duplicate: false, entry: { ...entry, attempts: 0 } }
      } finally {
        writing.delete(id)
      }
    },

    // Not synced: a removal the disk has not kept sends the message again after a crash, and the
    // next hop, which deduplicates, keeps it once. A synced one cost each hop a second fsync.
    async remove (entry) {
      await db.batch([
        { type: 'del', sublevel: entries, key: keyOf(entry) },
        { type: 'del', sublevel: index, key: indexKey(entry) }
      ], { sync: false })
    },

    async attempted (entry) {
      await index.put(indexKey(entry), { key: keyOf(entry), sender: entry.sender, attempts: entry.attempts, size: entry.size } satisfies OutboxIndexRecord)
    },

    // Only one process opens a LevelDB, so no claim ever contends: the lease is not recorded (nor is add's).
    async claim (next, limit) {
      const stored = await entries.values({ gt: next + KEY_SEPARATOR, lt: next + '\x01', limit }).all() as Array<Omit<OutboxEntry, 'attempts' | 'sender' | 'size'>>
      return await Promise.all(stored.map(withIndex))
    },

    async * entries () {
      for await (const stored of entries.values()) yield await withIndex(stored as Omit<OutboxEntry, 'attempts' | 'sender' | 'size'>)
    },

    async counts () {
      const hops = new Map<string, number>()
      const senders = new Map<string, number>()
      let bytes = 0
      for await (const [key, record] of index.iterator() as AsyncIterable<[string, OutboxIndexRecord]>) {
        bytes += record.size
        const next = key.slice(0, key.lastIndexOf(KEY_SEPARATOR))
        hops.set(next, (hops.get(next) ?? 0) + 1)
        senders.set(record.sender, (senders.get(record.sender) ?? 0) + 1)
      }
      return { hops, senders, bytes }
    }
  }
}
