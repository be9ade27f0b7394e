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
  /** Idempotent: granting twice keeps the first grant. */
  grant(client: string, now?: number): Promise<MediationRecord>
  count(): Promise<number>
  /** `client_error` when another client already holds the recipient. Aliases (e.g. did:key forms of the recipient's keys) route to it too. */
  addRecipient(client: string, recipient: string, aliases?: readonly string[]): Promise<KeylistResult>
  removeRecipient(client: string, recipient: string): Promise<KeylistResult>
  recipients(client: string): Promise<string[]>
  /** The mailboxes a client reads: every recipient it holds, and its own DID (the node's notices to it, such as undeliverable-message reports). */
  mailboxes(client: string): Promise<string[]>
  /** Resolves a recipient DID or one of its aliases to its holder. */
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

  return {
    async get (client) {
      return await readKey(clients, client) as MediationRecord | undefined
    },

    async grant (client, now = Date.now()) {
      const existing = await readKey(clients, client) as MediationRecord | undefined
      if (existing !== undefined) return existing
      const record: MediationRecord = { client, grantedAt: now }
      await commit.write([{ type: 'put', sublevel: clients, key: client, value: record }])
      if (clientCount !== undefined) clientCount++
      return record
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
      const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
      if (holder !== undefined) return holder.client === client ? 'no_change' : 'client_error'
      const record: RecipientRecord = { client, aliases: [...recipientAliases] }
      await commit.write([
        { type: 'put', sublevel: recipients, key: recipient, value: record },
        { type: 'put', sublevel: keylists, key: client + SEP + recipient, value: '' },
        ...recipientAliases.map(alias => ({ type: 'put' as const, sublevel: aliases, key: alias, value: recipient }))
      ])
      return 'success'
    },

    async removeRecipient (client, recipient) {
      const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
      if (holder === undefined) return 'no_change'
      if (holder.client !== client) return 'client_error'
      await commit.write([
        { type: 'del', sublevel: recipients, key: recipient },
        { type: 'del', sublevel: keylists, key: client + SEP + recipient },
        ...holder.aliases.map(alias => ({ type: 'del' as const, sublevel: aliases, key: alias }))
      ])
      return 'success'
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
      const recipient = (await readKey(aliases, didOrAlias) as string | undefined) ?? didOrAlias
      const holder = await readKey(recipients, recipient) as RecipientRecord | undefined
      return holder === undefined ? undefined : { client: holder.client, recipient }
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
