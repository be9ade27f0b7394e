import type { PushDevices, PushKind, PushRegistration } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database } from './database.ts'
import type { GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'

const DEVICES = `${SCHEMA}.push_devices`
const NAMES = `${SCHEMA}.mediation_names`

interface Row { id: string, client: string, kind: PushKind, token: string, platform: string | null, p256dh: string | null, auth: string | null, registered_at: number }

const COLUMNS = `d.id, c.name AS client, d.kind, d.token, d.platform, d.p256dh, d.auth, d.registered_at`
const FROM = `${DEVICES} d JOIN ${NAMES} c ON c.name_hash = d.client_hash`

function registration (row: Row): PushRegistration {
  return {
    id: row.id,
    client: row.client,
    kind: row.kind,
    token: row.token,
    ...(row.platform === null ? {} : { platform: row.platform }),
    ...(row.p256dh === null || row.auth === null ? {} : { keys: { p256dh: row.p256dh, auth: row.auth } }),
    registeredAt: row.registered_at
  }
}

/**
 * Push registrations reference the client's grant (ON DELETE CASCADE): a revoke takes them with it,
 * and a registration racing it waits on the grant's row lock, then finds no grant.
 */
export function createPostgresPushDevices (db: Database, commit: GroupCommit): PushDevices {
  async function list (client: string, kind?: PushKind): Promise<PushRegistration[]> {
    const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.client_hash = $1 AND ($2::text IS NULL OR d.kind = $2) ORDER BY d.registered_at, d.id`, [hashOf(client), kind ?? null])
    return rows.map(registration)
  }

  return {
    async register (r, maxPerClient) {
      const clientHash = hashOf(r.client)
      return await commit.run(async tx => {
        const locked = await tx.query(`SELECT 1 FROM ${NAMES} WHERE name_hash = $1 AND kind = 'client' FOR UPDATE`, [clientHash])
        if (locked.length === 0) return undefined
        const [row] = await tx.query<{ id: string }>(`
          INSERT INTO ${DEVICES} (id, client_hash, kind, token, platform, p256dh, auth, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
          ON CONFLICT (client_hash, kind, token) DO UPDATE SET platform = excluded.platform, p256dh = excluded.p256dh, auth = excluded.auth, registered_at = excluded.registered_at
          RETURNING id`, [r.id, clientHash, r.kind, r.token, r.platform ?? null, r.keys?.p256dh ?? null, r.keys?.auth ?? null, r.registeredAt])
        // The newest maxPerClient stay.
        if (Number.isFinite(maxPerClient)) await tx.query(`DELETE FROM ${DEVICES} WHERE id IN (SELECT id FROM ${DEVICES} WHERE client_hash = $1 ORDER BY registered_at DESC, id = $2 DESC, id DESC OFFSET $3)`, [clientHash, row?.id ?? r.id, maxPerClient])
        return { ...r, id: row?.id ?? r.id }
      }, clientHash.toString('hex'))
    },

    list,

    async clear (client, kind) {
      const removed = await commit.run(async tx => await tx.query(`DELETE FROM ${DEVICES} WHERE client_hash = $1 AND ($2::text IS NULL OR kind = $2) RETURNING 1`, [hashOf(client), kind ?? null]))
      return removed.length
    },

    async remove (id) {
      const removed = await commit.run(async tx => await tx.query(`DELETE FROM ${DEVICES} WHERE id = $1 RETURNING 1`, [id]))
      return removed.length > 0
    },

    async * entries () {
      const rows = paged<Row>(async (last, limit) => await db.query<Row>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.id > $1 ORDER BY d.id LIMIT $2`, [last?.id ?? '', limit]))
      for await (const row of rows) yield registration(row)
    }
  }
}
