import { createHash } from 'node:crypto'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { openLevelStore } from './level/store.ts'
import type { Store, StoreLimits } from './store.ts'

/**
 * Opens the store a node is configured with: PostgreSQL for a postgres:// URL (several replicas may
 * share it; its driver loads only then), else the embedded LevelDB in the data dir.
 */
export async function openStore (location: { store?: string | undefined, dataDir: string }, limits: StoreLimits): Promise<Store> {
  if (location.store === undefined) return await openLevelStore(location.dataDir, limits)
  const { openPostgresStore } = await import('./postgres/store.ts')
  // The replica's own name for its outbox claims, the same across its restarts.
  const holder = createHash('sha256').update(`${hostname()}\0${resolve(location.dataDir)}`).digest('base64url')
  return await openPostgresStore(location.store, limits, { holder })
}
