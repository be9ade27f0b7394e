import type { UsedInvitations } from '../store.ts'
import { SCHEMA } from './database.ts'
import type { GroupCommit } from './group-commit.ts'

const USED = `${SCHEMA}.used_invitations`

export function createPostgresUsedInvitations (commit: GroupCommit): UsedInvitations {
  return {
    async use (nonce, expiresAt) {
      // The primary key decides: of two uses racing, in any processes, one inserts and one does not.
      const inserted = await commit.run(async tx => await tx.query(`INSERT INTO ${USED} (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING RETURNING 1`, [nonce, expiresAt]))
      return inserted.length > 0
    },

    async sweep (now) {
      const removed = await commit.run(async tx => await tx.query(`DELETE FROM ${USED} WHERE expires_at < $1 RETURNING 1`, [now]))
      return removed.length
    }
  }
}
