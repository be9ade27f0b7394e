import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import type { Onward } from '../../protocols/routing/handler.ts'
import type { OutboxEntry, OutboxStore } from '../../storage/store.ts'
import type { MeshLibp2p } from '../libp2p.ts'
import type { NodeMetrics } from '../metrics.ts'
import { urlAllowed } from './destination.ts'
import { createMixDirectory } from './directory.ts'
import type { MixPeer } from './directory.ts'
import { keepInTouch } from './keep-in-touch.ts'
import { createMixer } from './mixer.ts'
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
  mix?: {
    /** Offer this node as a mix hop; a node that does not is never listed, and relays without delay. */
    enabled: boolean
    /** Longest random delay a forward relayed for a mesh peer is held. */
    maxDelayMs: number
    /** Forwards held at once; more go on without delay. */
    maxHeld: number
    /** Mix peers listed from one IP address. */
    peersPerHost?: number
  }
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
  /** This node's current mediator DID (told to mesh peers for their mix directories). */
  did: () => string
}

export interface Mesh {
  onward: Onward
  start(ownDids: readonly string[]): Promise<void>
  stop(): Promise<void>
  stats(): { routes: RouteStats, outbox: OutboxStats }
  /** The outbox per next hop. */
  hops(): OutboxHop[]
  /** Mesh peers offering to be mix hops, for this node's clients. */
  mixes(): MixPeer[]
}

/** Node-to-node relay: routes (DHT + DID documents), the acknowledged relay protocol, and the durable outbox. */
export function createMesh (components: MeshComponents, init: MeshInit): Mesh {
  const { libp2p, resolver, logger } = components
  const routes = createRoutes({ libp2p, resolver, logger }, init.routes)
  const privateDestinations = init.relayPrivateDestinations ?? false
  const relay = createRelay(libp2p, { timeoutMs: init.relayTimeoutMs, privateDestinations })
  const mix = init.mix ?? { enabled: true, maxDelayMs: 0, maxHeld: 0 }
  const directory = createMixDirectory({ libp2p, resolver, logger, did: components.did }, { mix: mix.enabled, ...(mix.peersPerHost === undefined ? {} : { maxPeersPerHost: mix.peersPerHost }) })
  const mixer = createMixer(mix.enabled ? mix : { maxDelayMs: 0, maxHeld: 0 })
  const contacts = keepInTouch(libp2p, logger)
  const outbox = createOutbox({
    store: components.outbox,
    lookup: async did => await routes.lookup(did),
    forget: did => { routes.forget(did) },
    send: async (route, packed) => {
      const start = performance.now()
      const result = await relay.send(route, packed)
      components.metrics?.relayed(result.outcome, (performance.now() - start) / 1000)
      if (result.outcome === 'accepted' && route.kind === 'libp2p') contacts.relayedTo(route.peerId)
      // The next hop and the size on the wire, never the DID: what a node on the path sees anyway.
      logger.debug({ to: route.kind === 'libp2p' ? route.peerId.toString() : 'http', bytes: Buffer.byteLength(packed), outcome: result.outcome }, 'relayed')
      return result
    },
    // Only forwards relayed for mesh peers (no local origin) are mixed: a client's own first hop is not.
    hold: async entry => { if (entry.origin === undefined) await mixer.hold() },
    report: components.report,
    logger
  }, init.outbox)
  components.metrics?.observe({ outboxDepth: () => outbox.stats().depth, routes: () => routes.stats(), mixPeers: () => directory.list().length, mixHeld: () => mixer.held() })
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
      await directory.start()
    },

    async stop () {
      libp2p.removeEventListener('peer:connect', onConnect)
      outbox.stop()
      contacts.stop()
      relay.close()
      routes.stop()
      await directory.stop()
    },

    stats: () => ({ routes: routes.stats(), outbox: outbox.stats() }),
    hops: () => outbox.hops(),
    mixes: () => directory.list()
  }
}
