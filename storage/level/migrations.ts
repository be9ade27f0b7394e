import { sublevel } from './database.ts'
import type { BatchOperation, Database } from './database.ts'

/**
 * Steps that bring a store from one layout version to the next, keyed by the version they start
 * from. Each step is one synced batch together with the new version number, so a crash leaves the
 * store at the old version or the new one, never between.
 */
const STEPS: Record<number, (db: Database) => Promise<BatchOperation[]>> = {
  // v3: the outbox's id index keeps, per entry, the sender its quota counts against, its size and its
  // attempts. Only these small index records are written: the messages stay where they are.
  2: async db => {
    const entries = sublevel(db, 'outbox')
    const index = sublevel(db, 'outbox-ids')
    const ops: BatchOperation[] = []
    for await (const [id, key] of index.iterator() as AsyncIterable<[string, unknown]>) {
      if (typeof key !== 'string') continue
      const entry = await entries.get(key) as { origin?: string, message?: string } | undefined
      if (entry === undefined) {
        ops.push({ type: 'del', sublevel: index, key: id })
        continue
      }
      // A v2 entry relayed for a peer did not say which peer; such entries share one quota.
      const sender = entry.origin ?? 'v2-relayed'
      ops.push({ type: 'put', sublevel: index, key: id, value: { key, sender, attempts: 0, size: Buffer.byteLength(entry.message ?? '') } })
    }
    return [...ops, ...await contestedAliases(db)]
  }
}

/**
 * Before v3 an alias could be taken over (a later add overwrote it, a remove deleted another's). An
 * alias entry is dropped when its recipient does not list it, or when more than one recipient
 * lists that name (or holds it directly): nobody can tell which claim was honest, and a dropped
 * alias only means senders must name the recipient DID itself.
 */
async function contestedAliases (db: Database): Promise<BatchOperation[]> {
  const recipients = sublevel(db, 'mediation-recipients')
  const aliases = sublevel(db, 'mediation-aliases')
  const claims = new Map<string, number>()
  const claim = (name: string): void => { claims.set(name, (claims.get(name) ?? 0) + 1) }
  const listed = new Map<string, Set<string>>()
  for await (const [recipient, record] of recipients.iterator() as AsyncIterable<[string, { aliases?: unknown }]>) {
    const names = Array.isArray(record.aliases) ? record.aliases.filter((a): a is string => typeof a === 'string') : []
    claim(recipient)
    for (const name of names) claim(name)
    listed.set(recipient, new Set(names))
  }
  const ops: BatchOperation[] = []
  for await (const [alias, recipient] of aliases.iterator() as AsyncIterable<[string, unknown]>) {
    const owned = typeof recipient === 'string' && listed.get(recipient)?.has(alias) === true
    if (!owned || (claims.get(alias) ?? 0) > 1) ops.push({ type: 'del', sublevel: aliases, key: alias })
  }
  return ops
}

/** Upgrades a store at layout `from` to `to`, or returns false when no path of steps leads there (a newer store, say). */
export async function migrate (db: Database, from: number, to: number): Promise<boolean> {
  if (from > to) return false
  for (let version = from; version < to; version++) if (STEPS[version] === undefined) return false
  const meta = sublevel(db, 'meta')
  for (let version = from; version < to; version++) {
    const ops = await (STEPS[version] as (db: Database) => Promise<BatchOperation[]>)(db)
    await db.batch([...ops, { type: 'put', sublevel: meta, key: 'version', value: version + 1 }], { sync: true })
  }
  return true
}
