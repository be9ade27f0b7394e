import type { UsedInvitations } from '../store.ts'
import { SCHEMA } from './database.ts'
import type { Database } from './database.ts'
import type { GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'

const USED = `${SCHEMA}.used_invitations`

export function createPostgresUsedInvitations (db: Database, commit: GroupCommit): UsedInvitations {
  return {
    async use (nonce, expiresAt) {
      // The primary key decides: of two uses racing, in any processes, one inserts and one does not.
      const inserted = await commit.run(async tx => await tx.query(`INSERT INTO ${USED} (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING RETURNING 1`, [nonce, expiresAt]))
      return inserted.length > 0
    },

    async * entries () {
      const rows = paged<{ nonce: string, expires_at: number }>(async (last, limit) =>
        await db.query(`SELECT nonce, expires_at FROM ${USED} WHERE nonce > $1 ORDER BY nonce LIMIT $2`, [last?.nonce ?? '', limit]))
      for await (const row of rows) yield { nonce: row.nonce, expiresAt: row.expires_at }
    },

    async sweep (now) {
      const removed = await commit.run(async tx => await tx.query(`DELETE FROM ${USED} WHERE expires_at < $1 RETURNING 1`, [now]))
      return removed.length
    }
  }
}
