import type { Store, StoreLimits } from './store.ts'

/** A copy only goes into a store that holds nothing: merging two stores' mediations could not be undone. */
export class TargetNotEmptyError extends Error {
  override name = 'TargetNotEmptyError'
}

/** Quotas the target is opened with: a copy carries over whatever the source held, however full a mailbox is. */
export const COPY_LIMITS: StoreLimits = { mailbox: { maxMessages: 2 ** 31 - 1, maxBytes: Number.MAX_SAFE_INTEGER } }

/** Writes in flight at once: enough for group commits to batch them, few enough to bound memory. */
const WRITES_AT_ONCE = 200

export interface CopyReport {
  clients: number
  recipients: number
  messages: number
  outbox: number
  usedInvitations: number
  pushDevices: number
  mediatorDids: number
  libp2pRecords: number
  /** Messages queued for DIDs no client holds (a recipient removed since): no mailbox names them, so they stay behind. */
  leftBehind: { messages: number, bytes: number }
}

/** What the target already holds, named for the error; empty when it holds nothing. */
async function contents (store: Store): Promise<string[]> {
  const held: string[] = []
  if ((await store.mediations.count()) > 0) held.push('mediations')
  if ((await store.mailbox.queued()).messages > 0) held.push('messages')
  if ((await store.outbox.counts()).hops.size > 0) held.push('outbox entries')
  for await (const _ of store.usedInvitations.entries()) { held.push('used invitations'); break }
  for await (const _ of store.pushDevices.entries()) { held.push('push devices'); break }
  if ((await store.state.mediatorDids()).length > 0) held.push('mediator DIDs')
  for await (const _ of store.datastore.queryKeys({ limit: 1 })) held.push('libp2p records')
  return held
}

/** Runs `write` on every item, WRITES_AT_ONCE at a time; how many were written. */
async function writeAll<T> (items: AsyncIterable<T> | Iterable<T>, write: (item: T) => Promise<void>): Promise<number> {
  let batch: Array<Promise<void>> = []
  let written = 0
  for await (const item of items) {
    batch.push(write(item))
    written++
    if (batch.length >= WRITES_AT_ONCE) {
      await Promise.all(batch)
      batch = []
    }
  }
  await Promise.all(batch)
  return written
}

/**
 * Copies everything `from` holds into `to`, which must be empty: mediations (grant times, recipients,
 * aliases), every mailbox a client reads (messages with their receipt times), the relay outbox (with
 * attempts), used invitation tokens, push registrations, the mediator DID history and libp2p's records. Neither store may
 * be written by anyone else meanwhile. Mailboxes are found through the mediations: a mailbox is
 * named by a hash of its DID, so messages for a DID nobody holds any more are counted, not copied.
 */
export async function copyStore (from: Store, to: Store): Promise<CopyReport> {
  const held = await contents(to)
  if (held.length > 0) throw new TargetNotEmptyError(`the target store is not empty (it holds ${held.join(', ')}): copy only into a new store`)

  const report: CopyReport = { clients: 0, recipients: 0, messages: 0, outbox: 0, usedInvitations: 0, pushDevices: 0, mediatorDids: 0, libp2pRecords: 0, leftBehind: { messages: 0, bytes: 0 } }
  let bytes = 0
  for await (const grant of from.mediations.entries()) {
    await to.mediations.grant(grant.client, grant.grantedAt)
    report.clients++
    for (const { recipient, aliases } of grant.recipients) {
      const result = await to.mediations.addRecipient(grant.client, recipient, aliases)
      if (result !== 'success') throw new Error(`copying ${grant.client}'s recipient ${recipient} failed: ${result}`)
      report.recipients++
    }
    for (const did of [grant.client, ...grant.recipients.map(r => r.recipient)]) {
      report.messages += await writeAll(from.mailbox.entries(did), async message => {
        await to.mailbox.add(did, message.message, message.receivedAt)
        bytes += message.size
      })
    }
  }
  const queued = await from.mailbox.queued()
  report.leftBehind = { messages: queued.messages - report.messages, bytes: queued.bytes - bytes }

  report.outbox = await writeAll(from.outbox.entries(), async entry => {
    const { id: _id, attempts: _attempts, ...fields } = entry
    await to.outbox.add(fields)
    if (entry.attempts > 0) await to.outbox.attempted(entry)
  })
  report.usedInvitations = await writeAll(from.usedInvitations.entries(), async ({ nonce, expiresAt }) => { await to.usedInvitations.use(nonce, expiresAt) })
  // Every registration is its client's (a revoke takes them), so the grants copied above admit them all; ids are kept, pushes name them.
  report.pushDevices = await writeAll(from.pushDevices.entries(), async device => {
    if (await to.pushDevices.register(device, Infinity) === undefined) throw new Error(`copying a push device of ${device.client} failed: no mediation`)
  })
  const dids = await from.state.mediatorDids()
  for (const did of dids) await to.state.rememberMediatorDid(did)
  report.mediatorDids = dids.length
  report.libp2pRecords = await writeAll(from.datastore.query({}), async ({ key, value }) => { await to.datastore.put(key, value) })
  return report
}
