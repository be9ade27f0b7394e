import type { IdentifyResult, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Logger } from 'pino'
import { fromString } from 'uint8arrays'
import { ByteLru } from '../../didcomm/lru.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { didcommEndpoints } from '../../didcomm/transport.ts'
import { DHT_PROTOCOL } from '../libp2p.ts'
import type { MeshLibp2p } from '../libp2p.ts'

/** How a mediator DID is reached: a mesh peer, or (a standard mediator outside the mesh) an HTTP endpoint. */
export type Route = { kind: 'libp2p', peerId: PeerId } | { kind: 'http', url: string }

export type RouteSource = 'cache' | 'connected' | 'dht-provider' | 'dht-peer' | 'did-doc'

export interface RoutesInit {
  /** How often the node provides its DIDs again. */
  provideIntervalMs?: number
  /** How soon a failed provide is tried again, doubling while it fails, up to provideIntervalMs. */
  provideRetryMs?: number
  /** How long a found route is used without looking again. */
  cacheTtlMs?: number
  /** Time allowed for one DHT query. */
  queryTimeoutMs?: number
}

export interface RoutesComponents {
  libp2p: MeshLibp2p
  resolver: DIDResolver
  logger: Logger
}

export interface RouteStats {
  lookups: Record<RouteSource, number>
  failures: number
  /** Providers that announced a DID they could not prove to serve, and were ignored. */
  unprovenProviders: number
}

export interface Routes {
  start(ownDids: readonly string[]): void
  stop(): void
  /** The kind of route the DID document names (a libp2p peer first, else an HTTP endpoint), no network asked. */
  named(did: string): Promise<Route | undefined>
  /** The route to a mediator DID, or undefined when it has none. Only proven peers are returned. */
  lookup(did: string): Promise<Route | undefined>
  /** Forgets a cached route (after the peer failed). */
  forget(did: string): void
  stats(): RouteStats
}

const ROUTE_CACHE_BYTES = 4 * 1024 * 1024
const DEFAULTS = { provideIntervalMs: 10 * 60_000, provideRetryMs: 15_000, cacheTtlMs: 10 * 60_000, queryTimeoutMs: 5_000 }
/** Re-provide as each of the first this-many DHT peers appears. */
const EARLY_PROVIDE_PEERS = 3

/** The DHT key of a mediator DID: a hash, so DHT peers never learn the DIDs themselves. */
export async function mediatorKey (did: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(fromString('didcomm-mesh/v1/mediator/' + did)))
}

/**
 * Mediator DID → peer. The DID document is the root of trust: a route is used only when its peer ID
 * is the one the DID's libp2p service names. DHT provider records and peer routing only supply
 * addresses; anyone can announce a provider record, so an unproven one is ignored and counted.
 */
export function createRoutes (components: RoutesComponents, init: RoutesInit = {}): Routes {
  const { libp2p, resolver, logger } = components
  const options = { ...DEFAULTS, ...init }
  // Keyed by `next` DIDs senders choose: bounded in bytes (a DID is at most a few KB).
  const cache = new ByteLru<{ route: Route, until: number }>(ROUTE_CACHE_BYTES, did => did.length + 200)
  const stats: RouteStats = { lookups: { cache: 0, connected: 0, 'dht-provider': 0, 'dht-peer': 0, 'did-doc': 0 }, failures: 0, unprovenProviders: 0 }
  let provided: readonly string[] = []
  let timer: NodeJS.Timeout | undefined
  let dhtPeersSeen = 0
  let earlyProvide: NodeJS.Timeout | undefined
  let retry: NodeJS.Timeout | undefined
  let retryMs = options.provideRetryMs
  let running = false

  async function provideAll (): Promise<void> {
    let failed = false
    for (const did of provided) {
      try {
        await libp2p.contentRouting.provide(await mediatorKey(did), { signal: AbortSignal.timeout(options.queryTimeoutMs * 2) })
      } catch (err) {
        failed = true
        logger.debug({ err, did }, 'provide failed; will try again')
      }
    }
    if (failed) retryProvide()
    else retryMs = options.provideRetryMs
  }

  // A node whose provide failed (a query timing out on a busy mesh, say) is found by provider record
  // by no one: try again soon, not at the next interval, backing off while it keeps failing.
  function retryProvide (): void {
    if (!running || retry !== undefined) return
    retry = setTimeout(() => {
      retry = undefined
      void provideAll()
    }, retryMs)
    retry.unref()
    retryMs = Math.min(retryMs * 2, options.provideIntervalMs)
  }

  // A provide made with no peers reaches no one: provide again as the first few DHT peers are
  // identified (debounced, since the DHT adds them to its routing table just after identify).
  const onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    if (dhtPeersSeen >= EARLY_PROVIDE_PEERS || !event.detail.protocols.includes(DHT_PROTOCOL)) return
    dhtPeersSeen++
    clearTimeout(earlyProvide)
    earlyProvide = setTimeout(() => { void provideAll() }, 250)
  }

  function remember (did: string, route: Route, source: RouteSource): Route {
    stats.lookups[source]++
    cache.set(did, { route, until: Date.now() + options.cacheTtlMs })
    return route
  }

  async function namedPeer (did: string): Promise<{ peerId?: PeerId, http?: string }> {
    const { libp2p: named, http } = await didcommEndpoints(resolver, did)
    let peerId: PeerId | undefined
    try {
      peerId = named === undefined ? undefined : peerIdFromString(named)
    } catch {
      peerId = undefined
    }
    return { peerId, http }
  }

  async function findProven (did: string, peerId: PeerId): Promise<boolean> {
    try {
      for await (const provider of libp2p.contentRouting.findProviders(await mediatorKey(did), { signal: AbortSignal.timeout(options.queryTimeoutMs) })) {
        if (!provider.id.equals(peerId)) {
          stats.unprovenProviders++
          logger.debug({ provider: provider.id.toString(), did }, 'ignoring unproven provider')
          continue
        }
        if (provider.multiaddrs.length > 0) await libp2p.peerStore.merge(peerId, { multiaddrs: provider.multiaddrs })
        return true
      }
    } catch (err) {
      logger.debug({ err, did }, 'provider lookup failed')
    }
    return false
  }

  async function findPeer (peerId: PeerId): Promise<boolean> {
    try {
      const info = await libp2p.peerRouting.findPeer(peerId, { signal: AbortSignal.timeout(options.queryTimeoutMs) })
      if (info.multiaddrs.length > 0) await libp2p.peerStore.merge(peerId, { multiaddrs: info.multiaddrs })
      return info.multiaddrs.length > 0
    } catch {
      return false
    }
  }

  return {
    start (ownDids) {
      running = true
      provided = ownDids
      void provideAll()
      libp2p.addEventListener('peer:identify', onIdentify)
      timer = setInterval(() => { void provideAll() }, options.provideIntervalMs)
      timer.unref()
    },

    stop () {
      running = false
      clearInterval(timer)
      clearTimeout(earlyProvide)
      clearTimeout(retry)
      libp2p.removeEventListener('peer:identify', onIdentify)
    },

    async named (did) {
      const { peerId, http } = await namedPeer(did)
      if (peerId !== undefined) return { kind: 'libp2p', peerId }
      return http === undefined ? undefined : { kind: 'http', url: http }
    },

    async lookup (did) {
      // Which mediators this node needed a route to (the DID as the node's logger hashes it): only its next hops.
      logger.debug({ did }, 'route lookup')
      const cached = cache.get(did)
      if (cached !== undefined && cached.until > Date.now()) {
        stats.lookups.cache++
        return cached.route
      }
      const { peerId, http } = await namedPeer(did)
      if (peerId !== undefined) {
        if (libp2p.getConnections(peerId).length > 0) return remember(did, { kind: 'libp2p', peerId }, 'connected')
        if (await findProven(did, peerId)) return remember(did, { kind: 'libp2p', peerId }, 'dht-provider')
        if (await findPeer(peerId)) return remember(did, { kind: 'libp2p', peerId }, 'dht-peer')
        // Addresses may still be known from an earlier run (the peer store persists) or arrive later.
        return remember(did, { kind: 'libp2p', peerId }, 'did-doc')
      }
      if (http !== undefined) return remember(did, { kind: 'http', url: http }, 'did-doc')
      stats.failures++
      return undefined
    },

    forget (did) {
      cache.delete(did)
    },

    stats: () => structuredClone(stats)
  }
}
