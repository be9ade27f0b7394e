import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import type { Onward } from '../../protocols/routing/handler.ts'
import type { OutboxEntry, OutboxStore } from '../../storage/store.ts'
import type { MeshLibp2p } from '../libp2p.ts'
import type { NodeMetrics } from '../metrics.ts'
import { urlAllowed } from './destination.ts'
import { createOutbox } from './outbox.ts'
import type { OutboxHop, OutboxInit, OutboxStats } from './outbox.ts'
import { createRelay } from './relay.ts'
import { createRoutes } from './routes.ts'
import type { RouteStats, RoutesInit } from './routes.ts'

export interface MeshInit {
  relayOpen?: boolean
  /** Whether HTTP destinations on loopback, private and other non-public addresses may be relayed to. */
  relayPrivateDestinations?: boolean
  /** Lifetime of a relayed message that carries no expires_time of its own. */
  messageLifetimeMs: number
  routes?: RoutesInit
  outbox?: OutboxInit
  relayTimeoutMs?: number
}

export interface MeshComponents {
  libp2p: MeshLibp2p
  resolver: DIDResolver
  /** Where relays wait, durably. */
  outbox: OutboxStore
  logger: Logger
  /** Tells a local client that a message it sent could not be delivered (undeliverable.ts). */
  report: (entry: OutboxEntry, code: string, comment: string) => Promise<void>
  metrics?: Pick<NodeMetrics, 'relayed' | 'observe'>
}

export interface Mesh {
  onward: Onward
  start(ownDids: readonly string[]): Promise<void>
  stop(): void
  stats(): { routes: RouteStats, outbox: OutboxStats }
  /** The outbox per next hop. */
  hops(): OutboxHop[]
}

/** Node-to-node relay: routes (DHT + DID documents), the acknowledged relay protocol, and the durable outbox. */
export function createMesh (components: MeshComponents, init: MeshInit): Mesh {
  const { libp2p, resolver, logger } = components
  const routes = createRoutes({ libp2p, resolver, logger }, init.routes)
  const privateDestinations = init.relayPrivateDestinations ?? false
  const relay = createRelay(libp2p, { timeoutMs: init.relayTimeoutMs, privateDestinations })
  const outbox = createOutbox({
    store: components.outbox,
    lookup: async did => await routes.lookup(did),
    forget: did => { routes.forget(did) },
    send: async (route, packed) => {
      const start = performance.now()
      const result = await relay.send(route, packed)
      components.metrics?.relayed(result.outcome, (performance.now() - start) / 1000)
      return result
    },
    report: components.report,
    logger
  }, init.outbox)
  components.metrics?.observe({ outboxDepth: () => outbox.stats().depth, routes: () => routes.stats() })
  // Only the hops whose peer just connected: a peer that connects cannot make this node retry anything else.
  const onConnect = (event: CustomEvent<PeerId>): void => { outbox.retryNow(event.detail.toString()) }

  return {
    onward: {
      open: init.relayOpen ?? false,
      async destination (did) {
        const route = await routes.named(did)
        if (route?.kind !== 'http') return route?.kind
        return urlAllowed(route.url, privateDestinations) ? 'http' : 'refused'
      },
      async enqueue (next, message, meta) {
        await outbox.enqueue({
          next,
          message,
          sender: meta.sender,
          enqueuedAt: Date.now(),
          expiresAt: Math.min(meta.expiresAt ?? Infinity, Date.now() + init.messageLifetimeMs),
          ...(meta.origin === undefined ? {} : { origin: meta.origin }),
          ...(meta.thid === undefined ? {} : { thid: meta.thid })
        })
      }
    },

    async start (ownDids) {
      routes.start(ownDids)
      libp2p.addEventListener('peer:connect', onConnect)
      await outbox.start()
    },

    stop () {
      libp2p.removeEventListener('peer:connect', onConnect)
      outbox.stop()
      relay.close()
      routes.stop()
    },

    stats: () => ({ routes: routes.stats(), outbox: outbox.stats() }),
    hops: () => outbox.hops()
  }
}
