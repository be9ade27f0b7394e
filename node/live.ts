import type { Envelope } from '../didcomm/envelope.ts'
import type { Logger } from 'pino'
import { clientKey } from '../storage/store.ts'
import type { MailSignals, Mailbox, Mediations, QueuedMessage } from '../storage/store.ts'
import type { NodeMetrics } from './metrics.ts'
import { DELIVERY_MAX_BYTES, PICKUP_VERSIONS, deliveryMessage } from '../protocols/pickup/messages.ts'
import type { Session } from '../protocols/message.ts'
import type { LiveDelivery, PickupVersion } from '../protocols/pickup/live.ts'

/** How many pushed-but-unacknowledged messages a client may have; more follow as it acknowledges. */
const IN_FLIGHT_MAX = 100
/** Messages per pushed `delivery`. */
const PUSH_BATCH = 10
/**
 * How long a pushed message stays this process's (another replica serving the same client pushes
 * it only after): a wallet acknowledges within seconds; one that does not gets it again later.
 */
const PUSH_LEASE_MS = 60_000

interface LiveBinding {
  session: Session
  client: string
  version: PickupVersion
  /** The node DID pushes come from; undefined: the current one. */
  from?: string
  inFlight: Set<string>
}

export interface LiveDeliveryComponents {
  mailbox: Mailbox
  mediations: Mediations
  envelope: Envelope
  /** The DID pushes come from. */
  nodeDid: () => string
  logger: Logger
  /** Other processes serving the same store: told of mail this one queued, and telling of theirs. */
  signals?: MailSignals
  metrics?: Pick<NodeMetrics, 'observe'>
  /** Told of mail queued for a client with no live session here, to wake its devices (push). */
  asleep?: (client: string) => void
}

/** Live delivery as the node runs it: stopping it stops hearing other processes' signals. */
export interface NodeLiveDelivery extends LiveDelivery {
  /** Whether the client has a live session on this process. */
  connected(client: string): boolean
  stop(): void
}

/**
 * Live mode (pickup 3.0 and 4.0): a WebSocket bound to a client DID receives `delivery` messages for
 * every recipient that client holds, as they arrive. Pushed messages stay queued until the client
 * acknowledges them with messages-received; when the socket closes, they simply count as waiting again.
 */
export function createLiveDelivery (components: LiveDeliveryComponents): NodeLiveDelivery {
  const { mailbox, mediations, envelope, logger, signals } = components
  const bySession = new Map<Session, LiveBinding>()
  const byClient = new Map<string, Set<LiveBinding>>()
  // Signals name clients by key: the live ones, by their key.
  const byKey = new Map<string, string>()
  const claims = new Map<string, Promise<void>>()
  components.metrics?.observe({ liveSessions: () => bySession.size })

  function inFlight (client: string): Set<string> {
    const all = new Set<string>()
    for (const binding of byClient.get(client) ?? []) for (const id of binding.inFlight) all.add(id)
    return all
  }

  /** Claims up to the in-flight allowance of the client's waiting messages for its newest live session. */
  async function claim (client: string): Promise<{ binding: LiveBinding, messages: QueuedMessage[] } | undefined> {
    const binding = [...byClient.get(client) ?? []].at(-1)
    if (binding === undefined) return undefined
    const exclude = inFlight(client)
    const room = IN_FLIGHT_MAX - exclude.size
    if (room <= 0) return undefined
    const batch = await mailbox.claim(await mediations.mailboxDids(client), room, exclude, PUSH_LEASE_MS, DELIVERY_MAX_BYTES)
    for (const m of batch) binding.inFlight.add(m.id)
    return { binding, messages: batch }
  }

  async function push (binding: LiveBinding, messages: QueuedMessage[]): Promise<void> {
    const v = PICKUP_VERSIONS[binding.version]
    // A client that spoke to a did:peer of this node may not resolve its did:web: pushes come from the DID it spoke to.
    const from = binding.from ?? components.nodeDid()
    for (let i = 0; i < messages.length; i += PUSH_BATCH) {
      const delivery = deliveryMessage(v, messages.slice(i, i + PUSH_BATCH), from, binding.client)
      try {
        binding.session.push?.(await envelope.pack(delivery, binding.client, from))
      } catch (err) {
        logger.warn({ err }, 'live push failed; messages stay queued')
        for (const m of messages) binding.inFlight.delete(m.id)
        return
      }
    }
  }

  /** Runs claims for one client one after another, so two arrivals never push the same message twice. */
  function serially<T> (client: string, task: () => Promise<T>): Promise<T> {
    const run = (claims.get(client) ?? Promise.resolve()).then(task)
    const settled = run.then(() => {}, () => {})
    claims.set(client, settled)
    void settled.then(() => { if (claims.get(client) === settled) claims.delete(client) })
    return run
  }

  function refill (client: string): void {
    serially(client, async () => {
      const claimed = await claim(client)
      if (claimed !== undefined && claimed.messages.length > 0) await push(claimed.binding, claimed.messages)
    }).catch(err => { logger.warn({ err }, 'live refill failed') })
  }

  const stopListening = signals?.listen(key => {
    const client = byKey.get(key)
    if (client !== undefined) refill(client)
  })

  return {
    async enable (session, client, version, from) {
      const existing = bySession.get(session)
      if (existing !== undefined) existing.version = version
      else {
        const binding: LiveBinding = { session, client, version, ...(from === undefined ? {} : { from }), inFlight: new Set() }
        bySession.set(session, binding)
        byClient.set(client, new Set([...byClient.get(client) ?? [], binding]))
        byKey.set(clientKey(client), client)
      }
      const claimed = await serially(client, async () => await claim(client))
      return () => { if (claimed !== undefined && claimed.messages.length > 0) void push(claimed.binding, claimed.messages) }
    },

    disable (session) {
      const binding = bySession.get(session)
      if (binding === undefined) return
      bySession.delete(session)
      const bindings = byClient.get(binding.client)
      bindings?.delete(binding)
      if (bindings?.size === 0) {
        byClient.delete(binding.client)
        byKey.delete(clientKey(binding.client))
      }
    },

    isLive: session => bySession.has(session),

    sessions: () => bySession.size,

    inFlight,

    pushing: client => byClient.has(client) ? Math.max(0, IN_FLIGHT_MAX - inFlight(client).size) : 0,

    async handOut (client, recipients, limit) {
      if (!byClient.has(client)) return undefined
      // In line with the pushes' claims, so a message is either pushed or handed out, never both.
      return await serially(client, async () => {
        const binding = [...byClient.get(client) ?? []].at(-1)
        if (binding === undefined) return undefined
        const batch = await mailbox.claim(recipients, limit, inFlight(client), PUSH_LEASE_MS, DELIVERY_MAX_BYTES)
        for (const m of batch) binding.inFlight.add(m.id)
        return batch
      })
    },

    acknowledged (client, ids) {
      const bindings = byClient.get(client)
      if (bindings === undefined) return
      for (const binding of bindings) for (const id of ids) binding.inFlight.delete(id)
      refill(client)
    },

    connected: client => byClient.has(client),

    queued (client) {
      if (byClient.has(client)) refill(client)
      else components.asleep?.(client)
      // The client may be live on another process serving this store.
      signals?.announce(client)
    },

    drop (client) {
      for (const binding of [...byClient.get(client) ?? []]) {
        this.disable(binding.session)
        binding.session.close?.()
      }
    },

    stop () {
      stopListening?.()
    }
  }
}
