import type { NodeState } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database } from './database.ts'
import type { GroupCommit } from './group-commit.ts'

const DIDS = `${SCHEMA}.mediator_dids`

export function createPostgresNodeState (db: Database, commit: GroupCommit): NodeState {
  return {
    async rememberMediatorDid (did) {
      return await commit.run(async tx => {
        await tx.query(`INSERT INTO ${DIDS} (did_hash, did) VALUES ($1, $2) ON CONFLICT (did_hash) DO NOTHING`, [hashOf(did), did])
        const rows = await tx.query<{ did: string }>(`SELECT did FROM ${DIDS} ORDER BY position`)
        return rows.map(row => row.did)
      })
    },

    async mediatorDids () {
      const rows = await db.query<{ did: string }>(`SELECT did FROM ${DIDS} ORDER BY position`)
      return rows.map(row => row.did)
    }
  }
}
