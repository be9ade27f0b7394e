import type { KeylistResult, MediationRecord, Mediations } from '../store.ts'
import { SCHEMA, hashOf } from './database.ts'
import type { Database, Queryable } from './database.ts'
import type { GroupCommit } from './group-commit.ts'
import { paged } from './paged.ts'
import type { Route, RouteCache } from './route-cache.ts'
import { notifyRoutesChanged } from './signals.ts'

/**
 * Clients, recipients and aliases are rows of one table keyed by the DID's hash, so the primary key
 * itself says a DID is held at most once, as one of the three, whichever process races to take it.
 * A client's own row is locked (FOR UPDATE) by whatever changes what it holds, so its cap and its
 * revocation are exact across processes too.
 */
const NAMES = `${SCHEMA}.mediation_names`

/** Clients read back as records; rows of other kinds never match (`kind = 'client'`). */
const GRANT_OF = `SELECT name AS client, granted_at FROM ${NAMES} WHERE name_hash = $1 AND kind = 'client'`

/** Takes the client's row lock, if it holds a mediation: the statements after it see every change committed before. */
const LOCK_CLIENT = `SELECT 1 FROM ${NAMES} WHERE name_hash = $1 AND kind = 'client' FOR UPDATE`

/**
 * Claims every name at once, in hash order (two claims over the same names then wait on one
 * another rather than deadlock); a name held already, or being claimed by a transaction that then
 * commits, is skipped. Returns the names claimed.
 */
const CLAIM = `
  INSERT INTO ${NAMES} (name_hash, name, kind, client_hash, recipient_hash)
  SELECT hash, name, CASE WHEN hash = $4 THEN 'recipient' ELSE 'alias' END, $3, $4
  FROM unnest($1::bytea[], $2::text[]) AS n (hash, name)
  ORDER BY hash
  ON CONFLICT (name_hash) DO NOTHING
  RETURNING name_hash`

interface Grant { client: string, granted_at: number }

const record = (row: Grant): MediationRecord => ({ client: row.client, grantedAt: row.granted_at })

/** `routes` keeps what findRecipient reads; removals here tell every store's (notifyRoutesChanged). */
export function createPostgresMediations (db: Database, commit: GroupCommit, routes: RouteCache): Mediations {
  async function keylist (client: string): Promise<string[]> {
    const rows = await db.query<{ name: string }>(`SELECT name FROM ${NAMES} WHERE client_hash = $1 AND kind = 'recipient' ORDER BY name`, [hashOf(client)])
    return rows.map(row => row.name)
  }

  async function addRecipient (tx: Queryable, client: string, recipient: string, aliases: readonly string[], maxPerClient: number): Promise<KeylistResult> {
    const clientHash = hashOf(client)
    const recipientHash = hashOf(recipient)
    const [holder] = await tx.query<{ kind: string, client_hash: Buffer }>(`SELECT kind, client_hash FROM ${NAMES} WHERE name_hash = $1`, [recipientHash])
    if (holder !== undefined) return holder.kind === 'recipient' && holder.client_hash.equals(clientHash) ? 'no_change' : 'client_error'
    // Revoked meanwhile, or full: its keylist takes no more.
    if ((await tx.query(LOCK_CLIENT, [clientHash])).length === 0) return 'client_error'
    if (Number.isFinite(maxPerClient)) {
      const [held] = await tx.query<{ count: number }>(`SELECT count(*) AS count FROM ${NAMES} WHERE client_hash = $1 AND kind = 'recipient'`, [clientHash])
      if ((held?.count ?? 0) >= maxPerClient) return 'client_error'
    }
    const names = [...new Set([recipient, ...aliases])]
    const claimed = await tx.query<{ name_hash: Buffer }>(CLAIM, [names.map(hashOf), names, clientHash, recipientHash])
    if (claimed.length === names.length) return 'success'
    // Some name is someone else's: give back the ones this claim took.
    await tx.query(`DELETE FROM ${NAMES} WHERE name_hash = ANY($1::bytea[])`, [claimed.map(row => row.name_hash)])
    return 'client_error'
  }

  return {
    async get (client) {
      const [row] = await db.query<Grant>(GRANT_OF, [hashOf(client)])
      return row === undefined ? undefined : record(row)
    },

    async grant (client, now = Date.now()) {
      const hash = hashOf(client)
      return await commit.run(async tx => {
        const inserted = await tx.query(`
          INSERT INTO ${NAMES} (name_hash, name, kind, client_hash, granted_at) VALUES ($1, $2, 'client', $1, $3)
          ON CONFLICT (name_hash) DO NOTHING RETURNING 1`, [hash, client, now])
        if (inserted.length > 0) return { client, grantedAt: now }
        // Granted before (the first grant stands), or held as a recipient or an alias (refused).
        const [row] = await tx.query<Grant>(GRANT_OF, [hash])
        return row === undefined ? undefined : record(row)
      }, hash.toString('hex'))
    },

    async count () {
      const [row] = await db.query<{ count: number }>(`SELECT count(*) AS count FROM ${NAMES} WHERE kind = 'client'`)
      return row?.count ?? 0
    },

    async addRecipient (client, recipient, aliases = [], maxPerClient = Infinity) {
      return await commit.run(async tx => await addRecipient(tx, client, recipient, aliases, maxPerClient), hashOf(client).toString('hex'))
    },

    async removeRecipient (client, recipient) {
      const result = await commit.run(async (tx): Promise<KeylistResult> => {
        const recipientHash = hashOf(recipient)
        // The recipient and the aliases that route to it, all held by this client or none.
        const removed = await tx.query<{ kind: string }>(`DELETE FROM ${NAMES} WHERE client_hash = $1 AND recipient_hash = $2 RETURNING kind`, [hashOf(client), recipientHash])
        if (removed.some(row => row.kind === 'recipient')) {
          await notifyRoutesChanged(tx)
          return 'success'
        }
        const heldByOther = await tx.query(`SELECT 1 FROM ${NAMES} WHERE name_hash = $1 AND kind = 'recipient'`, [recipientHash])
        return heldByOther.length > 0 ? 'client_error' : 'no_change'
      }, hashOf(client).toString('hex'))
      // At once here; the other stores when the notification reaches them.
      if (result === 'success') routes.clear()
      return result
    },

    recipients: keylist,

    async mailboxDids (client) {
      return [client, ...await keylist(client)]
    },

    async findRecipient (didOrAlias) {
      return await routes.lookup(didOrAlias, async () => {
        const [row] = await db.query<Route>(`
          SELECT holder.name AS client, target.name AS recipient
          FROM ${NAMES} named
          JOIN ${NAMES} target ON target.name_hash = named.recipient_hash
          JOIN ${NAMES} holder ON holder.name_hash = named.client_hash
          WHERE named.name_hash = $1`, [hashOf(didOrAlias)])
        return row
      })
    },

    async clients (limit) {
      const rows = await db.query<Grant>(`SELECT name AS client, granted_at FROM ${NAMES} WHERE kind = 'client' ORDER BY name LIMIT $1`, [limit])
      return rows.map(record)
    },

    async * entries () {
      const grants = paged<Grant>(async (last, limit) =>
        await db.query<Grant>(`SELECT name AS client, granted_at FROM ${NAMES} WHERE kind = 'client' AND name > $1 ORDER BY name LIMIT $2`, [last?.client ?? '', limit]))
      for await (const grant of grants) {
        const recipients = await db.query<{ recipient: string, aliases: string[] }>(`
          SELECT r.name AS recipient, array_remove(array_agg(a.name ORDER BY a.name), NULL) AS aliases
          FROM ${NAMES} r LEFT JOIN ${NAMES} a ON a.recipient_hash = r.name_hash AND a.kind = 'alias'
          WHERE r.client_hash = $1 AND r.kind = 'recipient'
          GROUP BY r.name ORDER BY r.name`, [hashOf(grant.client)])
        yield { ...record(grant), recipients: recipients.map(({ recipient, aliases }) => ({ recipient, aliases })) }
      }
    },

    async revoke (client) {
      const hash = hashOf(client)
      const revoked = await commit.run(async tx => {
        // The lock first: it waits for recipient additions under way, and the delete after it (a new
        // snapshot) sees them, so none is left behind without its client.
        if ((await tx.query(LOCK_CLIENT, [hash])).length === 0) return undefined
        const removed = await tx.query<{ name: string, kind: string }>(`DELETE FROM ${NAMES} WHERE client_hash = $1 RETURNING name, kind`, [hash])
        await notifyRoutesChanged(tx)
        return removed.filter(row => row.kind === 'recipient').map(row => row.name)
      }, hash.toString('hex'))
      if (revoked !== undefined) routes.clear()
      return revoked
    }
  }
}
