/**
 * What the node keeps, as interfaces every store implements (LevelDB in `level/`; the shared
 * contract suite in test/storage/ says what each must do). Protocols and the mesh depend on these
 * types only, never on an implementation. Imports no database library.
 */
import { createHash } from 'node:crypto'
import type { Datastore } from 'interface-datastore'

/** One queued message for one recipient: the packed JWE exactly as it arrived. */
export interface QueuedMessage {
  /** base64url sha-256 of the packed message: the pickup attachment id, and the dedupe key. */
  id: string
  /** epoch milliseconds */
  receivedAt: number
  size: number
  message: string
}

export interface MailboxStatus {
  count: number
  bytes: number
  /** epoch milliseconds, undefined when the mailbox is empty */
  oldest?: number
  newest?: number
}

export interface MailboxLimits {
  maxMessages: number
  maxBytes: number
}

export class MailboxFullError extends Error {
  override name = 'MailboxFullError'
}

/** The store cannot be reached now (its database is down): nothing was written, and the request may be sent again. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError'
}

export interface AddResult {
  id: string
  duplicate: boolean
  /** The recipient's queue right after this message was stored (absent for a duplicate), against its quotas. */
  queued?: { messages: number, bytes: number }
}

export interface Mailbox {
  /** Stores a message durably (synced) and resolves only then. The same packed message is kept once per recipient. Throws MailboxFullError past the limits. */
  add(recipient: string, message: string, now?: number): Promise<AddResult>
  /** Costs a few reads per excluded id, however many messages wait. */
  status(recipient: string, exclude?: ReadonlySet<string>): Promise<MailboxStatus>
  /**
   * The `limit` oldest messages among all the given recipients', oldest first; fewer if together they
   * would pass `maxBytes` (but always the oldest one), so one request never reads a box's worth of large messages.
   * Each recipient's messages are considered up to perBoxLimit: with many full boxes, the oldest of each one's share.
   */
  list(recipients: readonly string[], limit: number, exclude?: ReadonlySet<string>, maxBytes?: number): Promise<QueuedMessage[]>
  /**
   * Like list, for pushing to a live client: only messages no other process serving this store has
   * claimed in the last `leaseMs`, claimed now for this one (its own earlier claims it gets again),
   * so replicas never push one message at once, and a replica that dies lets go of its claims.
   */
  claim(recipients: readonly string[], limit: number, exclude: ReadonlySet<string>, leaseMs: number, maxBytes?: number): Promise<QueuedMessage[]>
  /** Deletes the given ids among the given recipients' messages; returns how many were deleted (each once, however often it is named or raced). */
  remove(recipients: readonly string[], ids: readonly string[]): Promise<number>
  /** Deletes messages received before `before` (epoch ms); returns how many. */
  sweep(before: number): Promise<number>
  /** Messages and bytes queued for all recipients. */
  queued(): Promise<{ messages: number, bytes: number }>
  /** Deletes every message queued for the given recipients (a revoked client's); returns how many. */
  purge(recipients: readonly string[]): Promise<number>
  /**
   * Every message queued for one recipient, oldest first, read a page at a time (for copying a
   * store: mailboxes are named by a hash of the DID, so the DID must come from elsewhere).
   */
  entries(recipient: string): AsyncIterable<QueuedMessage>
}

export interface MediationRecord {
  client: string
  /** epoch milliseconds */
  grantedAt: number
}

export type KeylistResult = 'success' | 'no_change' | 'client_error'

/** A mediation grant with everything its client holds: what copying a store carries over. */
export interface MediationEntry extends MediationRecord {
  /** Each recipient with the aliases that route to it now. */
  recipients: Array<{ recipient: string, aliases: string[] }>
}

export interface Mediations {
  get(client: string): Promise<MediationRecord | undefined>
  /** Idempotent: granting twice keeps the first grant. Undefined when the DID is held as a recipient (or alias) here. */
  grant(client: string, now?: number): Promise<MediationRecord | undefined>
  count(): Promise<number>
  /**
   * Aliases (e.g. did:key forms of the recipient's keys) route to the recipient too. `client_error`
   * when the recipient or any alias is already held, in either table, or holds a mediation (one
   * client can never shadow what another holds), when the client holds `maxPerClient` recipients
   * already, or no longer holds a mediation.
   */
  addRecipient(client: string, recipient: string, aliases?: readonly string[], maxPerClient?: number): Promise<KeylistResult>
  removeRecipient(client: string, recipient: string): Promise<KeylistResult>
  recipients(client: string): Promise<string[]>
  /** The DIDs whose mailboxes a client reads: every recipient it holds, and its own DID (the node's notices to it, such as undeliverable-message reports). */
  mailboxDids(client: string): Promise<string[]>
  /** Resolves a recipient DID, or else an alias, to its holder. */
  findRecipient(didOrAlias: string): Promise<{ client: string, recipient: string } | undefined>
  /** Up to `limit` mediation grants, in key order. */
  clients(limit: number): Promise<MediationRecord[]>
  /** Withdraws a client's mediation, every recipient it holds and its push registrations; the recipients removed, or undefined when it held none. */
  revoke(client: string): Promise<string[] | undefined>
  /** Every grant with its recipients and their aliases. */
  entries(): AsyncIterable<MediationEntry>
}

/** What an outbox add did: kept the entry (as stored), or found it there already. */
export type OutboxAdded = { duplicate: false, entry: OutboxEntry } | { duplicate: true }

/** A packed message waiting to be relayed to another mediator. */
export interface OutboxEntry {
  /** base64url sha-256 of the packed message */
  id: string
  /** The mediator DID it goes to (the forward's `next`). */
  next: string
  message: string
  /** epoch milliseconds */
  enqueuedAt: number
  expiresAt: number
  /** Who it counts against in the outbox quotas: the client DID, or the relaying libp2p peer's ID. */
  sender: string
  /** The local client that sent it, told with a problem report if it cannot be delivered. */
  origin?: string
  /** The id of the client's forward, for that problem report's pthid. */
  thid?: string
  /** Failed delivery attempts so far. */
  attempts: number
  /** Bytes of `message`, counted in the outbox's byte quota. */
  size: number
}

export interface OutboxStore {
  /**
   * Durable (synced). The same message for the same next hop is kept once: a second add is a
   * duplicate. With `leaseMs`, the entry is claimed for this process as it is written (as `claim`
   * would), so that the process may send it from memory without reading it back.
   */
  add(entry: Omit<OutboxEntry, 'id' | 'attempts'>, leaseMs?: number): Promise<OutboxAdded>
  remove(entry: OutboxEntry): Promise<void>
  /** Records `entry.attempts` (need not be synced: forgetting the last few only costs a few more tries). */
  attempted(entry: OutboxEntry): Promise<void>
  /**
   * The oldest `limit` entries waiting for `next` that no other process serving this store has
   * claimed in the last `leaseMs`, claimed now for this one (its own earlier claims it gets again):
   * replicas never relay one message at once, and a replica that dies lets go of its claims.
   */
  claim(next: string, limit: number, leaseMs: number): Promise<OutboxEntry[]>
  /** How many entries wait, per next hop and per sender, and their bytes. */
  counts(): Promise<{ hops: Map<string, number>, senders: Map<string, number>, bytes: number }>
  /** Every entry, claimed or not, with its attempts; claims nothing. */
  entries(): AsyncIterable<OutboxEntry>
}

/** Where a wake-up goes: Web Push (RFC 8030) straight to the push service, FCM and APNs through the operator's push gateway. */
export type PushKind = 'webpush' | 'fcm' | 'apns'

/** One device a client asked to be woken on when messages wait for it. */
export interface PushRegistration {
  /** Random, opaque: the only name a push gives the device (never the client's DID). */
  id: string
  client: string
  kind: PushKind
  /** The FCM or APNs device token, or the Web Push endpoint URL. */
  token: string
  /** FCM: the device_platform the wallet gave (android, ios, web, ...). */
  platform?: string
  /** Web Push: the subscription's keys, base64url (RFC 8291). */
  keys?: { p256dh: string, auth: string }
  /** epoch milliseconds of the latest registration of this token */
  registeredAt: number
}

export interface PushDevices {
  /**
   * Registers a device for a client that holds a mediation, or refreshes it when the client has
   * registered that token of that kind before (it keeps its id). Keeps the client's newest
   * `maxPerClient` registrations, dropping the oldest. Undefined when the client holds no mediation.
   */
  register(registration: PushRegistration, maxPerClient: number): Promise<PushRegistration | undefined>
  /** The client's registrations (of one kind, if given), oldest first. */
  list(client: string, kind?: PushKind): Promise<PushRegistration[]>
  /** Removes the client's registrations (of one kind, if given); how many. A revoked mediation takes them all. */
  clear(client: string, kind?: PushKind): Promise<number>
  /** Removes one registration by id (its push service said the device is gone); whether it was there. */
  remove(id: string): Promise<boolean>
  /** Every registration. */
  entries(): AsyncIterable<PushRegistration>
}

/** Single-use invitation tokens already used, remembered until they expire (then they fail on expiry alone). */
export interface UsedInvitations {
  /** Durably records `nonce` as used; false when it was used before (or is being used right now). */
  use(nonce: string, expiresAt: number): Promise<boolean>
  /** Forgets tokens that expired before `now`; returns how many. */
  sweep(now: number): Promise<number>
  /** Every token remembered, with its expiry. */
  entries(): AsyncIterable<{ nonce: string, expiresAt: number }>
}

/** What the node remembers about itself. */
export interface NodeState {
  /**
   * Adds `did` to every mediator DID this node has had and returns them all, oldest first. A new
   * public URL makes a new did:peer:2, but wallets' pairwise DIDs name the old one, so the node
   * keeps answering to all of them.
   */
  rememberMediatorDid(did: string): Promise<string[]>
  /** Every mediator DID remembered, oldest first, adding none. */
  mediatorDids(): Promise<string[]>
}

/**
 * How the processes that share one store (replicas over PostgreSQL) tell each other that mail waits
 * for a client, so that a replica holding that client's live socket pushes it at once. A store only
 * one process opens (LevelDB) has nobody to tell.
 */
export interface MailSignals {
  /** Tells the other processes. Best effort: a lost signal delays a push until the client next asks. */
  announce(client: string): void
  /** Hears the other processes' announcements, as `clientKey(client)`; returns the way to stop. */
  listen(listener: (key: string) => void): () => void
}

/** What a signal names a client by: short, fixed-size, and no DID in the database's notification stream. */
export function clientKey (client: string): string {
  return createHash('sha256').update(client).digest('base64url').slice(0, 22)
}

export interface StoreLimits {
  mailbox: MailboxLimits
}

/** One open store: everything the node keeps, and libp2p's own records (peer store, DHT). */
export interface Store {
  mailbox: Mailbox
  mediations: Mediations
  outbox: OutboxStore
  usedInvitations: UsedInvitations
  pushDevices: PushDevices
  state: NodeState
  signals: MailSignals
  datastore: Datastore
  /** Whether other processes may write to this store at the same time (replicas): the outbox then looks for their work. */
  shared: boolean
  /** Whether the store can take writes now (GET /ready). */
  isOpen(): boolean
  /**
   * Writes a consistent copy of the store, as it is at one instant, into a new directory while the
   * node runs; how many records it holds. Only a store in one process's hands has it (LevelDB): a
   * PostgreSQL database is backed up with its own tools (pg_dump).
   */
  backup?(directory: string): Promise<{ records: number }>
  /** Closes the store, letting go of this process's outbox claims. */
  close(): Promise<void>
}

/**
 * base64url sha-256 of a packed message: what the mailbox and the outbox name it by (the pickup
 * attachment id, the dedupe key). Not the DIDComm message id, which only the decrypted message holds.
 */
export function contentHash (message: string): string {
  return createHash('sha256').update(message).digest('base64url')
}

/** Keys one list reads at most over all its recipients' boxes: a delivery of 100 from 1,000 recipients. */
export const LIST_KEYS_MAX = 100_000

/**
 * How many of each box's oldest messages a list over `boxes` boxes considers: all `limit` while the
 * boxes together stay within LIST_KEYS_MAX, else an equal share (at least one). Per recipient the
 * result is still oldest first, and a client with a thousand full boxes costs a request no more.
 */
export function perBoxLimit (limit: number, boxes: number): number {
  return Math.max(1, Math.min(limit, Math.floor(LIST_KEYS_MAX / Math.max(1, boxes))))
}

/** The first of `sorted` (oldest first) whose sizes together stay within `maxBytes`, and always the first. */
export function withinBytes<T extends { size: number }> (sorted: readonly T[], maxBytes: number): T[] {
  let bytes = 0
  let count = 0
  for (const entry of sorted) {
    bytes += entry.size
    if (count > 0 && bytes > maxBytes) break
    count++
  }
  return sorted.slice(0, count)
}
