import { serialized } from './concurrency.ts'
import { readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'

export interface MediationRecord {
  client: string
  /** epoch milliseconds */
  grantedAt: number
}

export type KeylistResult = 'success' | 'no_change' | 'client_error'

export interface Mediations {
  get(client: string): Promise<MediationRecord | undefined>
  /** Idempotent: granting twice keeps the first grant. Undefined when the DID is held as a recipient (or alias) here. */
  grant(client: string, now?: number): Promise<MediationRecord | undefined>
  count(): Promise<number>
  /**
   * Aliases (e.g. did:key forms of the recipient's keys) route to the recipient too. `client_error`
   * when the recipient or any alias is already held, in either table, or holds a mediation: one
   * client can never shadow what another holds.
   */
  addRecipient(client: string, recipient: string, aliases?: readonly string[]): Promise<KeylistResult>
  removeRecipient(client: string, recipient: string): Promise<KeylistResult>
  recipients(client: string): Promise<string[]>
  /** The mailboxes a client reads: every recipient it holds, and its own DID (the node's notices to it, such as undeliverable-message reports). */
  mailboxes(client: string): Promise<string[]>
  /** Resolves a recipient DID, or else an alias, to its holder. */
  findRecipient(didOrAlias: string): Promise<{ client: string, recipient: string } | undefined>
  /** Up to `limit` mediation grants, in key order. */
  clients(limit: number): Promise<MediationRecord[]>
  /** Withdraws a client's mediation and every recipient it holds; the recipients removed, or undefined when it held none. */
  revoke(client: string): Promise<string[] | undefined>
}

const SEP = '\x00'

interface RecipientRecord { client: string, aliases: string[] }

export function createLevelMediations (db: Database, commit: GroupCommit): Mediations {
  const clients: Sublevel = sublevel(db, 'mediation-clients')
  const recipients: Sublevel = sublevel(db, 'mediation-recipients')
  const aliases: Sublevel = sublevel(db, 'mediation-aliases')
  // client␀recipient → '' : a client's keylist, read by range.
  const keylists: Sublevel = sublevel(db, 'mediation-keylists')
  let clientCount: number | undefined
  const exclusive = serialized()
  const taken = async (name: string): Promise<boolean> =>
    await readKey(recipients, name) !== undefined || await readKey(aliases, name) !== undefined

  return {
    async get (client) {
      return await readKey(clients, client) as MediationRecord | undefined
    },

    async grant (client, now = Date.now()) {
      return await exclusive(async () => {
        const existing = await readKey(clients, client) as MediationRecord | undefined
        if (existing !== undefined) return existing
        // Its mailbox is named by its DID: held as a recipient, someone else's messages would be its own.
        if (await taken(client)) return undefined
        const record: MediationRecord = { client, grantedAt: now }
        await commit.write([{ type: 'put', sublevel: clients, key: client, value: record }])
        if (clientCount !== undefined) clientCount++
        return record
      })
    },

    async count () {
      if (clientCount === undefined) {
        let n = 0
        for await (const _key of clients.keys()) n++
        clientCount = n
      }
      return clientCount
    },

    async addRecipient (client, recipient, recipientAliases = []) {
      return await exclusive(async () => {
        const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
        if (holder !== undefined) return holder.client === client ? 'no_change' : 'client_error'
        const names = [...new Set([recipient, ...recipientAliases])]
        for (const name of names) {
          if (await taken(name) || await readKey(clients, name) !== undefined) return 'client_error'
        }
        const record: RecipientRecord = { client, aliases: names.slice(1) }
        await commit.write([
          { type: 'put', sublevel: recipients, key: recipient, value: record },
          { type: 'put', sublevel: keylists, key: client + SEP + recipient, value: '' },
          ...record.aliases.map(alias => ({ type: 'put' as const, sublevel: aliases, key: alias, value: recipient }))
        ])
        return 'success'
      })
    },

    async removeRecipient (client, recipient) {
      return await exclusive(async () => {
        const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
        if (holder === undefined) return 'no_change'
        if (holder.client !== client) return 'client_error'
        // Only aliases that still name this recipient: never one that routes to another.
        const own = []
        for (const alias of holder.aliases) if (await readKey(aliases, alias) === recipient) own.push(alias)
        await commit.write([
          { type: 'del', sublevel: recipients, key: recipient },
          { type: 'del', sublevel: keylists, key: client + SEP + recipient },
          ...own.map(alias => ({ type: 'del' as const, sublevel: aliases, key: alias }))
        ])
        return 'success'
      })
    },

    async recipients (client) {
      const found: string[] = []
      for await (const key of keylists.keys({ gt: client + SEP, lt: client + SEP + '\xff' })) {
        found.push(key.slice(client.length + 1))
      }
      return found
    },

    async mailboxes (client) {
      return [client, ...await this.recipients(client)]
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
      if (await readKey(clients, client) === undefined) return undefined
      // Recipients first: a revoke cut short is finished by running it again.
      const removed = await this.recipients(client)
      for (const recipient of removed) await this.removeRecipient(client, recipient)
      await commit.write([{ type: 'del', sublevel: clients, key: client }])
      if (clientCount !== undefined) clientCount--
      // A recipient-update admitted just before the grant went: its additions go too.
      for (const late of await this.recipients(client)) {
        if (await this.removeRecipient(client, late) === 'success') removed.push(late)
      }
      return removed
    }
  }
}
