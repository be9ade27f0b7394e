import { randomUUID } from 'node:crypto'
import type { Store, StoreLimits } from '../store.ts'
import { openDatabase } from './database.ts'
import type { DatabaseOptions } from './database.ts'
import { PostgresDatastore } from './datastore.ts'
import { GroupCommit } from './group-commit.ts'
import { createPostgresUsedInvitations } from './invitations.ts'
import { createPostgresMailbox } from './mailbox.ts'
import { createPostgresMediations } from './mediations.ts'
import { migrate } from './migrations.ts'
import { createPostgresOutbox } from './outbox.ts'
import { createPostgresPushDevices } from './push.ts'
import { RouteCache } from './route-cache.ts'
import { openMailSignals } from './signals.ts'
import { createPostgresNodeState } from './state.ts'

export { StoreVersionError } from './migrations.ts'
export interface PostgresStoreOptions extends DatabaseOptions {
  /**
   * Names this process's claims (outbox relays, live pushes). Give the same one when the same replica
   * starts again (its data dir's, say), and it takes its own claims back at once instead of waiting
   * for them to lapse.
   */
  holder?: string
}

/** Routes kept in memory: a few thousand with did:peer:2 names (a few KiB each), many more with short ones. */
const ROUTE_CACHE_BYTES = 16 * 1024 * 1024

/**
 * The shared store: one PostgreSQL database that several node processes (replicas) may open at
 * once. Every rule that must hold across them (quotas, one holder per name, dedupe) is the
 * database's to enforce, in constraints and row locks; only routes are cached here, dropped on
 * every store whenever one removes any (LISTEN/NOTIFY). Writes go through one group commit per process.
 */
export async function openPostgresStore (url: string, limits: StoreLimits, options: PostgresStoreOptions = {}): Promise<Store> {
  const db = openDatabase(url, options)
  try {
    await migrate(db)
    const commit = new GroupCommit(db)
    const signals = await openMailSignals(db)
    // Names this process's claims (outbox relays, live pushes).
    const holder = options.holder ?? randomUUID()
    const outbox = createPostgresOutbox(db, commit, holder)
    const routes = new RouteCache(ROUTE_CACHE_BYTES, signals.listening)
    signals.onRoutesChanged(() => { routes.clear() })
    let closed = false
    return {
      mailbox: createPostgresMailbox(db, commit, limits.mailbox, holder),
      mediations: createPostgresMediations(db, commit, routes),
      outbox,
      usedInvitations: createPostgresUsedInvitations(db, commit),
      pushDevices: createPostgresPushDevices(db, commit),
      state: createPostgresNodeState(db, commit),
      signals,
      datastore: new PostgresDatastore(db, commit),
      // Other replicas may write at any time.
      shared: true,
      isOpen: () => !closed && db.reachable(),
      async close () {
        if (closed) return
        closed = true
        await commit.idle()
        // Unreachable, the claims simply lapse.
        await outbox.release().catch(() => {})
        await signals.close()
        await db.close()
      }
    }
  } catch (err) {
    await db.close()
    throw err
  }
}
