import { levelDatabaseExists, openAndUpgrade, STORAGE_VERSION } from './level/database.ts'
import { isPostgresUrl, NoStoreError } from './open.ts'

/** What `didcomm-mesh migrate` did: the store's version before (undefined: none yet) and after. */
export interface MigrationOutcome {
  kind: 'PostgreSQL schema' | 'LevelDB layout'
  before: number | undefined
  after: number
}

/**
 * Brings the store at `place` to this node's version, as a node would on starting, so operators can
 * upgrade before they roll the new node out: applies PostgreSQL's schema steps (a database without
 * the schema gets it), or upgrades a LevelDB directory's layout (which must hold a store already).
 */
export async function migrateStoreAt (place: string): Promise<MigrationOutcome> {
  if (isPostgresUrl(place)) {
    const { openDatabase } = await import('./postgres/database.ts')
    const { migrate } = await import('./postgres/migrations.ts')
    const db = openDatabase(place, { poolSize: 1 })
    try {
      const { from, to } = await migrate(db)
      return { kind: 'PostgreSQL schema', before: from === 0 ? undefined : from, after: to }
    } finally {
      await db.close()
    }
  }
  if (!levelDatabaseExists(place)) throw new NoStoreError(`no LevelDB store in ${place}: --data-dir must be the node's data directory`)
  const { db, found } = await openAndUpgrade(place)
  await db.close()
  return { kind: 'LevelDB layout', before: found, after: STORAGE_VERSION }
}
