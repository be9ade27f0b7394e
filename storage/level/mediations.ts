import { ByteLru } from '../../didcomm/lru.ts'
import { serialized } from '../concurrency.ts'
import type { KeylistResult, MediationEntry, MediationRecord, Mediations } from '../store.ts'
import { KEY_SEPARATOR, readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

interface RecipientRecord { client: string, aliases: string[] }

/** Room for the keylists of a few thousand active clients (a did:peer:2 runs to hundreds of characters). */
const KEYLIST_CACHE_BYTES = 4 * 1024 * 1024

export function createLevelMediations (db: Database, commit: GroupCommit): Mediations {
  const clients: Sublevel = sublevel(db, 'mediation-clients')
  const recipients: Sublevel = sublevel(db, 'mediation-recipients')
  const aliases: Sublevel = sublevel(db, 'mediation-aliases')
  // client␀recipient → '' : a client's keylist, read by range.
  const keylists: Sublevel = sublevel(db, 'mediation-keylists')
  let clientCount: number | undefined
  // Checks and reservations run one at a time; the synced writes they allow run outside, in group commits.
  const exclusive = serialized()
  // Names (recipients, aliases, clients) whose claim or release is being written: nobody else may take them meanwhile.
  const claiming = new Set<string>()
  // Recipients per client, counted from disk once, then kept with every add and remove.
  const held = new Map<string, number>()
  // Additions admitted and being written, per client: a revoke waits for them before it sweeps.
  const adding = new Map<string, Set<Promise<void>>>()

  const taken = async (name: string): Promise<boolean> =>
    claiming.has(name) || await readKey(recipients, name) !== undefined || await readKey(aliases, name) !== undefined

  // Keylists read through a cache: every pickup request reads its client's, and an iterator is a trip
  // to LevelDB's thread pool. A read keeps what it found only if no keylist changed while it ran, and
  // each change, once on disk, drops its client's entry: a read started after that sees the change.
  const keylistCache = new ByteLru<readonly string[]>(KEYLIST_CACHE_BYTES, (client, list) => list.reduce((sum, did) => sum + did.length, client.length))
  let keylistChanges = 0

  async function keylist (client: string): Promise<string[]> {
    const cached = keylistCache.get(client)
    if (cached !== undefined) return [...cached]
    const changesBefore = keylistChanges
    const found: string[] = []
    for await (const key of keylists.keys({ gt: client + KEY_SEPARATOR, lt: client + KEY_SEPARATOR + '\xff' })) {
      found.push(key.slice(client.length + 1))
    }
    if (keylistChanges === changesBefore) keylistCache.set(client, [...found])
    return found
  }

  /** Writes a change to `client`'s keylist (with `names` claimed, as writeClaimed) and drops its cached keylist once written, or failed. */
  async function writeKeylist (client: string, names: readonly string[], ops: Parameters<GroupCommit['write']>[0]): Promise<void> {
    try {
      await writeClaimed(names, ops)
    } finally {
      keylistChanges++
      keylistCache.delete(client)
    }
  }

  async function heldBy (client: string): Promise<number> {
    const known = held.get(client)
    if (known !== undefined) return known
    const counted = (await keylist(client)).length
    held.set(client, counted)
    return counted
  }

  /** Writes `ops` with `names` claimed: taken by nobody else until they are on disk (or failed). */
  async function writeClaimed (names: readonly string[], ops: Parameters<GroupCommit['write']>[0]): Promise<void> {
    try {
      await commit.write(ops)
    } finally {
      for (const name of names) claiming.delete(name)
    }
  }

  return {
    async get (client) {
      return await readKey(clients, client) as MediationRecord | undefined
    },

    async grant (client, now = Date.now()) {
      const found = await exclusive(async (): Promise<{ existing?: MediationRecord, refused?: true }> => {
        const existing = await readKey(clients, client) as MediationRecord | undefined
        if (existing !== undefined) return { existing }
        // Its mailbox is named by its DID: held as a recipient, someone else's messages would be its own.
        if (await taken(client)) return { refused: true }
        claiming.add(client)
        return {}
      })
      if (found.refused === true) return undefined
      if (found.existing !== undefined) return found.existing
      const granted: MediationRecord = { client, grantedAt: now }
      await writeClaimed([client], [{ type: 'put', sublevel: clients, key: client, value: granted }])
      if (clientCount !== undefined) clientCount++
      return granted
    },

    async count () {
      if (clientCount === undefined) {
        let n = 0
        for await (const _key of clients.keys()) n++
        clientCount = n
      }
      return clientCount
    },

    async addRecipient (client, recipient, recipientAliases = [], maxPerClient = Infinity) {
      const names = [...new Set([recipient, ...recipientAliases])]
      const verdict = await exclusive(async (): Promise<KeylistResult | 'claimed'> => {
        const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
        if (holder !== undefined) return holder.client === client ? 'no_change' : 'client_error'
        // Revoked meanwhile, or full: its keylist takes no more.
        if (claiming.has(client) || await readKey(clients, client) === undefined || await heldBy(client) >= maxPerClient) return 'client_error'
        for (const name of names) {
          if (await taken(name) || await readKey(clients, name) !== undefined) return 'client_error'
        }
        for (const name of names) claiming.add(name)
        held.set(client, await heldBy(client) + 1)
        return 'claimed'
      })
      if (verdict !== 'claimed') return verdict
      const record: RecipientRecord = { client, aliases: names.slice(1) }
      const write = writeKeylist(client, names, [
        { type: 'put', sublevel: recipients, key: recipient, value: record },
        { type: 'put', sublevel: keylists, key: client + KEY_SEPARATOR + recipient, value: '' },
        ...record.aliases.map(alias => ({ type: 'put' as const, sublevel: aliases, key: alias, value: recipient }))
      ])
      const writes = adding.get(client) ?? new Set()
      adding.set(client, writes.add(write))
      try {
        await write
      } catch (err) {
        held.set(client, await heldBy(client) - 1)
        throw err
      } finally {
        writes.delete(write)
        if (writes.size === 0) adding.delete(client)
      }
      return 'success'
    },

    async removeRecipient (client, recipient) {
      const claimed = await exclusive(async () => {
        const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
        if (holder === undefined || claiming.has(recipient)) return 'no_change'
        if (holder.client !== client) return 'client_error'
        // Only aliases that still name this recipient: never one that routes to another.
        const own = []
        for (const alias of holder.aliases) if (await readKey(aliases, alias) === recipient && !claiming.has(alias)) own.push(alias)
        for (const name of [recipient, ...own]) claiming.add(name)
        return own
      })
      if (typeof claimed === 'string') return claimed
      await writeKeylist(client, [recipient, ...claimed], [
        { type: 'del', sublevel: recipients, key: recipient },
        { type: 'del', sublevel: keylists, key: client + KEY_SEPARATOR + recipient },
        ...claimed.map(alias => ({ type: 'del' as const, sublevel: aliases, key: alias }))
      ])
      held.set(client, await heldBy(client) - 1)
      return 'success'
    },

    recipients: keylist,

    async mailboxDids (client) {
      return [client, ...await keylist(client)]
    },

    async findRecipient (didOrAlias) {
      const direct = await readKey(recipients, didOrAlias) as RecipientRecord | undefined
      if (direct !== undefined) return { client: direct.client, recipient: didOrAlias }
      const recipient = await readKey(aliases, didOrAlias) as string | undefined
      const holder = recipient === undefined ? undefined : await readKey(recipients, recipient) as RecipientRecord | undefined
      return holder === undefined || recipient === undefined ? undefined : { client: holder.client, recipient }
    },

    async clients (limit) {
      return await clients.values({ limit }).all() as MediationRecord[]
    },

    async revoke (client) {
      // The grant goes first: from then on no recipient-update of the client is admitted (addRecipient checks).
      const revoked = await exclusive(async () => {
        if (claiming.has(client) || await readKey(clients, client) === undefined) return false
        claiming.add(client)
        return true
      })
      if (!revoked) return undefined
      await writeClaimed([client], [{ type: 'del', sublevel: clients, key: client }])
      if (clientCount !== undefined) clientCount--
      // Additions admitted before the grant went: on disk first, then swept with the rest.
      await Promise.allSettled([...adding.get(client) ?? []])
      const removed: string[] = []
      for (const recipient of await keylist(client)) {
        if (await this.removeRecipient(client, recipient) === 'success') removed.push(recipient)
      }
      held.delete(client)
      return removed
    },

    async * entries () {
      for await (const value of clients.values()) {
        const { client, grantedAt } = value as MediationRecord
        const entry: MediationEntry = { client, grantedAt, recipients: [] }
        for (const recipient of await keylist(client)) {
          const record = await readKey(recipients, recipient) as RecipientRecord | undefined
          if (record === undefined) continue
          // The record lists the aliases claimed; only those that still route here count (the v3
          // upgrade dropped contested ones from the alias index alone).
          const routing: string[] = []
          for (const alias of record.aliases) if (await readKey(aliases, alias) === recipient) routing.push(alias)
          entry.recipients.push({ recipient, aliases: routing })
        }
        yield entry
      }
    }
  }
}
