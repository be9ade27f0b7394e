/**
 * Prometheus metrics at GET /metrics (prom-client), one registry per node (tests run several nodes
 * in one process); libp2p's own metrics join it through @libp2p/prometheus-metrics. Counts and
 * gauges only: no DID, key or message content ever becomes a label. One optional component: each
 * module is handed it and counts its own events, or plugs in what its gauges read.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RouteStats } from './mesh/routes.ts'

export interface MetricSources {
  queued: () => Promise<{ messages: number, bytes: number }>
  outboxDepth: () => number
  routes: () => RouteStats
  liveSessions: () => number
  peers: () => number
  mixPeers: () => number
  mixHeld: () => number
}

export interface NodeMetrics {
  registry: Registry
  /** A message was taken (`accepted`) or refused with a problem code. */
  message(transport: string, refusedWith?: string): void
  /** A request refused by the per-source rate limit. */
  rateLimited(): void
  /** Messages a client acknowledged having received. */
  delivered(count: number): void
  /** One relay attempt to the next hop, its outcome and how long it took. */
  relayed(outcome: string, seconds: number): void
  /** A module plugs in what it alone can read at scrape time; until it does, those gauges read 0. */
  observe(sources: Partial<MetricSources>): void
}

const PREFIX = 'didcomm_mesh_'

export function createNodeMetrics (registry: Registry = new Registry()): NodeMetrics {
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const sources: Partial<MetricSources> = {}

  const messages = new Counter({ name: `${PREFIX}messages_total`, help: 'DIDComm messages received, by transport and outcome (refused: by problem code)', labelNames: ['transport', 'outcome', 'code'], registers: [registry] })
  const rateLimited = new Counter({ name: `${PREFIX}rate_limited_total`, help: 'Requests refused by the rate limit of their source (an IP address, the real client behind trusted proxies, or a libp2p peer)', registers: [registry] })
  const deliveries = new Counter({ name: `${PREFIX}deliveries_total`, help: 'Queued messages delivered and acknowledged by their client', registers: [registry] })
  const relays = new Counter({ name: `${PREFIX}relays_total`, help: 'Relay attempts to the next hop, by outcome (accepted, rejected, retry)', labelNames: ['outcome'], registers: [registry] })
  const relaySeconds = new Histogram({ name: `${PREFIX}relay_duration_seconds`, help: 'Time of one relay attempt, until the next hop acknowledged or failed', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] })
  // Read at scrape time; each registers itself.
  new Gauge({ name: `${PREFIX}mailbox_messages`, help: 'Messages queued for all recipients', registers: [registry], async collect () { this.set((await sources.queued?.())?.messages ?? 0) } })
  new Gauge({ name: `${PREFIX}mailbox_bytes`, help: 'Bytes queued for all recipients', registers: [registry], async collect () { this.set((await sources.queued?.())?.bytes ?? 0) } })
  new Gauge({ name: `${PREFIX}outbox_depth`, help: 'Messages waiting in the relay outbox', registers: [registry], collect () { this.set(sources.outboxDepth?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}live_sessions`, help: 'WebSocket sessions in live delivery mode', registers: [registry], collect () { this.set(sources.liveSessions?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}peers`, help: 'Connected libp2p peers', registers: [registry], collect () { this.set(sources.peers?.() ?? 0) } })
  new Gauge({ name: `${PREFIX}mix_peers`, help: 'Mesh peers in the mix directory offered to clients', registers: [registry], collect () { this.set(sources.mixPeers?.() ?? 0) } })
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
    relayed (outcome, seconds) {
      relays.inc({ outcome })
      relaySeconds.observe({ outcome }, seconds)
    },
    observe (more) {
      Object.assign(sources, more)
    }
  }
}
