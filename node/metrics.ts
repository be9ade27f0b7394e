/**
 * Prometheus metrics at GET /metrics (prom-client), one registry per node (tests run several nodes
 * in one process); libp2p's own metrics join it through @libp2p/prometheus-metrics. Counts and
 * gauges only: no DID, key or message content ever becomes a label. One optional component: each
 * module is handed it and counts its own events, or plugs in what its gauges read.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Mailbox, MailboxLimits } from '../storage/store.ts'
import type { RouteStats } from './mesh/routes.ts'
import type { PushKind } from '../storage/store.ts'
import type { PushFailure } from './push/notifier.ts'

export interface MetricSources {
  queued: () => Promise<{ messages: number, bytes: number }>
  /** Whether GET /ready would answer 200. */
  ready: () => boolean
  /** The filesystem holding the data dir: bytes available to the node, and its size. */
  disk: () => Promise<{ available: number, size: number }>
  outboxDepth: () => number
  routes: () => RouteStats
  liveSessions: () => number
  peers: () => number
  mixPeers: () => number
  mixHeld: () => number
  /** The unpack threads' V8 heaps, in bytes. */
  threadHeap: () => Promise<{ used: number, total: number }>
}

export interface NodeMetrics {
  registry: Registry
  /** A message was taken (`accepted`) or refused with a problem code. */
  message(transport: string, refusedWith?: string): void
  /** A request refused by the per-source rate limit. */
  rateLimited(): void
  /** Messages a client acknowledged having received. */
  delivered(count: number): void
  /** A message was queued for a recipient whose mailbox is now this full (0 to 1, of the fuller of its two quotas). */
  mailboxFill(ratio: number): void
  /** One relay attempt to the next hop, its outcome and how long it took. */
  relayed(outcome: string, seconds: number): void
  /** A push went to a device (Web Push, or FCM/APNs through the gateway). */
  pushed(kind: PushKind): void
  /** A wake-up folded into the push its device already had this interval. */
  pushCoalesced(): void
  /** A push not delivered, and why. */
  pushFailed(reason: PushFailure): void
  /** Push registrations set (by clients) or removed (by clients, or because their service said the device is gone). */
  pushRegistrations(kind: PushKind, change: 'set' | 'removed', count: number): void
  /** A JWE in Veramo 7's legacy dialect opened (`received`) or made for a reply (`sent`). */
  legacyJwe(direction: 'received' | 'sent'): void
  /** A module plugs in what it alone can read at scrape time; until it does, those gauges read 0. */
  observe(sources: Partial<MetricSources>): void
  /** The latest relay attempts, oldest first (at most RECENT_RELAYS), for the operator's latency sparkline. */
  recentRelays(): readonly RelaySample[]
}

export interface RelaySample {
  /** epoch milliseconds */
  at: number
  outcome: string
  seconds: number
}

const RECENT_RELAYS = 120

const PREFIX = 'didcomm_mesh_'

export function createNodeMetrics (registry: Registry = new Registry()): NodeMetrics {
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const sources: Partial<MetricSources> = {}
  const recent: RelaySample[] = []

  const messages = new Counter({ name: `${PREFIX}messages_total`, help: 'DIDComm messages received, by transport and outcome (refused: by problem code)', labelNames: ['transport', 'outcome', 'code'], registers: [registry] })
  const rateLimited = new Counter({ name: `${PREFIX}rate_limited_total`, help: 'Requests refused by the rate limit of their source (an IP address, the real client behind trusted proxies, or a libp2p peer)', registers: [registry] })
  const deliveries = new Counter({ name: `${PREFIX}deliveries_total`, help: 'Queued messages delivered and acknowledged by their client', registers: [registry] })
  const relays = new Counter({ name: `${PREFIX}relays_total`, help: 'Relay attempts to the next hop, by outcome (accepted, rejected, retry)', labelNames: ['outcome'], registers: [registry] })
  const fill = new Histogram({ name: `${PREFIX}mailbox_fill_ratio`, help: "How full the recipient's mailbox is after each message queued, of the fuller of its quotas (messages or bytes per recipient)", buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1], registers: [registry] })
  const legacyJwe = new Counter({ name: `${PREFIX}legacy_jwe_total`, help: "JWEs in Veramo 7's legacy dialect (ECDH-1PU draft 03, no apu/apv), opened (received) or made for replies (sent); --legacy-jwe false refuses them", labelNames: ['direction'], registers: [registry] })
  const relaySeconds = new Histogram({ name: `${PREFIX}relay_duration_seconds`, help: 'Time of one relay attempt, until the next hop acknowledged or failed', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] })
  const pushes = new Counter({ name: `${PREFIX}pushes_total`, help: 'Pushes sent to wake a wallet, by service (webpush, fcm, apns)', labelNames: ['service'], registers: [registry] })
  const pushesCoalesced = new Counter({ name: `${PREFIX}pushes_coalesced_total`, help: 'Wake-ups folded into a push the device already had within the push interval', registers: [registry] })
  const pushFailures = new Counter({ name: `${PREFIX}push_failures_total`, help: 'Pushes not delivered, by reason (gone: registration removed; rejected; unreachable after every try; not-allowed; overflow: too much push work waiting)', labelNames: ['reason'], registers: [registry] })
  const pushRegistrations = new Counter({ name: `${PREFIX}push_registrations_total`, help: 'Push registrations set or removed, by service', labelNames: ['service', 'change'], registers: [registry] })
  // Read at scrape time; each registers itself.
  new Gauge({ name: `${PREFIX}mailbox_messages`, help: 'Messages queued for all recipients', registers: [registry], async collect () { this.set((await sources.queued?.())?.messages ?? 0) } })
  new Gauge({ name: `${PREFIX}mailbox_bytes`, help: 'Bytes queued for all recipients', registers: [registry], async collect () { this.set((await sources.queued?.())?.bytes ?? 0) } })
  new Gauge({ name: `${PREFIX}outbox_depth`, help: 'Messages waiting in the relay outbox', registers: [registry], collect () { this.set(sources.outboxDepth?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}live_sessions`, help: 'WebSocket sessions in live delivery mode', registers: [registry], collect () { this.set(sources.liveSessions?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}peers`, help: 'Connected libp2p peers', registers: [registry], collect () { this.set(sources.peers?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}ready`, help: 'Whether the node is ready (1) or not (0), as GET /ready answers', registers: [registry], collect () { this.set(sources.ready?.() === true ? 1 : 0) } })
  new Gauge({ name: `${PREFIX}data_dir_available_bytes`, help: 'Bytes available to the node on the filesystem of its data dir', registers: [registry], async collect () { this.set((await sources.disk?.())?.available ?? 0) } })
  new Gauge({ name: `${PREFIX}data_dir_size_bytes`, help: 'Size in bytes of the filesystem of the data dir', registers: [registry], async collect () { this.set((await sources.disk?.())?.size ?? 0) } })
  new Gauge({ name: `${PREFIX}mix_peers`, help: 'Mesh peers in the mix directory offered to clients', registers: [registry], collect () { this.set(sources.mixPeers?.() ?? 0) } })
  // prom-client's heap figures are the main thread's: each worker thread is an isolate with its own heap.
  new Gauge({ name: `${PREFIX}unpack_threads_heap_used_bytes`, help: 'V8 heap in use by the anoncrypt unpack threads (--unpack-workers), all together', registers: [registry], async collect () { this.set((await sources.threadHeap?.())?.used ?? 0) } })
  new Gauge({ name: `${PREFIX}unpack_threads_heap_size_bytes`, help: 'V8 heap the anoncrypt unpack threads hold (used or not), all together', registers: [registry], async collect () { this.set((await sources.threadHeap?.())?.total ?? 0) } })
  new Gauge({ name: `${PREFIX}mix_held`, help: 'Forwards held for their random mix delay now', registers: [registry], collect () { this.set(sources.mixHeld?.() ?? 0) } })
  new Counter({
    name: `${PREFIX}route_lookups_total`,
    help: 'Mediator route lookups, by where the answer came from',
    labelNames: ['source'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [source, count] of Object.entries(sources.routes?.().lookups ?? {})) this.inc({ source }, count)
    }
  })
  new Counter({ name: `${PREFIX}route_failures_total`, help: 'Mediator route lookups that found nothing', registers: [registry], collect () { this.reset(); this.inc(sources.routes?.().failures ?? 0) } })
  new Counter({ name: `${PREFIX}route_unproven_providers_total`, help: 'DHT providers ignored because the DID document does not name them', registers: [registry], collect () { this.reset(); this.inc(sources.routes?.().unprovenProviders ?? 0) } })

  return {
    registry,
    message (transport, refusedWith) {
      messages.inc({ transport, outcome: refusedWith === undefined ? 'accepted' : 'refused', code: refusedWith ?? '' })
    },
    rateLimited () {
      rateLimited.inc()
    },
    delivered (count) {
      if (count > 0) deliveries.inc(count)
    },
    mailboxFill (ratio) {
      fill.observe(ratio)
    },
    relayed (outcome, seconds) {
      relays.inc({ outcome })
      relaySeconds.observe({ outcome }, seconds)
      recent.push({ at: Date.now(), outcome, seconds })
      if (recent.length > RECENT_RELAYS) recent.shift()
    },
    pushed (kind) {
      pushes.inc({ service: kind })
    },
    pushCoalesced () {
      pushesCoalesced.inc()
    },
    pushFailed (reason) {
      pushFailures.inc({ reason })
    },
    pushRegistrations (kind, change, count) {
      if (count > 0) pushRegistrations.inc({ service: kind, change }, count)
    },
    legacyJwe (direction) {
      legacyJwe.inc({ direction })
    },
    observe (more) {
      Object.assign(sources, more)
    },
    recentRelays: () => recent
  }
}

/** `mailbox` with every stored message's fill of its recipient's quotas reported to `metrics`. */
export function meteredMailbox (mailbox: Mailbox, limits: MailboxLimits, metrics: Pick<NodeMetrics, 'mailboxFill'>): Mailbox {
  return {
    ...mailbox,
    async add (recipient, message, now) {
      const result = await mailbox.add(recipient, message, now)
      if (result.queued !== undefined) metrics.mailboxFill(Math.max(result.queued.messages / limits.maxMessages, result.queued.bytes / limits.maxBytes))
      return result
    }
  }
}
