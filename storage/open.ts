import { createHash } from 'node:crypto'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { openLevelStore } from './level/store.ts'
import type { Store, StoreLimits } from './store.ts'

/** A place named on the command line that holds no store (a mistyped path, say). */
export class NoStoreError extends Error {
  override name = 'NoStoreError'
}

/** Whether a store's name is a PostgreSQL URL; any other name is a LevelDB directory. */
export function isPostgresUrl (place: string): boolean {
  return /^postgres(ql)?:\/\//.test(place)
}

/**
 * Opens the store a node is configured with: PostgreSQL for a postgres:// URL (several replicas may
 * share it), else the embedded LevelDB in the data dir.
 */
export async function openStore (location: { store?: string | undefined, dataDir: string }, limits: StoreLimits): Promise<Store> {
  // The replica's own name for its outbox claims, the same across its restarts.
  const holder = createHash('sha256').update(`${hostname()}\0${resolve(location.dataDir)}`).digest('base64url')
  return await openStoreAt(location.store ?? location.dataDir, limits, holder)
}

/** Opens the store at a postgres:// URL (its driver loads only then) or in a LevelDB directory; `holder` names a replica's outbox claims. */
export async function openStoreAt (place: string, limits: StoreLimits, holder?: string): Promise<Store> {
  if (!isPostgresUrl(place)) return await openLevelStore(place, limits)
  const { openPostgresStore } = await import('./postgres/store.ts')
  return await openPostgresStore(place, limits, holder === undefined ? {} : { holder })
}
