/**
 * The directory of mix nodes: which mesh peers offer to be a hop of a sender's path, by mediator
 * DID. Peers tell each other their DIDs on a small protocol when they meet (identify), both ways in
 * one exchange: the dialler sends its own DID (empty when it is no mix), the listener answers with
 * its own. A claimed DID is kept only when its document names the claiming peer's ID (anyone can
 * claim any DID; only the peer a DID names can decrypt what is sent to it through the mesh).
 * A node that does not mix registers no handler, sends an empty claim and is listed by nobody.
 * A peer is listed while it is connected: a mix that went down is not offered to senders.
 * Peer IDs cost nothing to make, so one host must not crowd out the mixes: a full directory keeps
 * the peers it knows and refuses newcomers, and it lists at most `maxPeersPerHost` per IP address.
 * The exchange runs at most once each way per connection: another identify of it (identify-push,
 * a re-identify) does not start another, nor does a peer that asks again.
 */
import type { Connection, IdentifyResult, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import { fromString, toString } from 'uint8arrays'
import { DID_LIMITS } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { didcommEndpoints } from '../../didcomm/transport.ts'
import { hostOf } from '../libp2p.ts'
import type { MeshLibp2p } from '../libp2p.ts'

export const MIX_PROTOCOL = '/didcomm-mesh/mix/1.0.0'

export interface MixDirectoryInit {
  /** Offer this node as a mix (answer the protocol, send our DID). */
  mix: boolean
  /** Peers listed at most; when full, newcomers are refused (the peers listed longest stay). */
  maxPeers?: number
  /** Peers listed from one IP address (the one their connection comes from or goes to). */
  maxPeersPerHost?: number
  timeoutMs?: number
}

export interface MixDirectoryComponents {
  libp2p: MeshLibp2p
  resolver: DIDResolver
  logger: Logger
  /** This node's current mediator DID. */
  did: () => string
}

export interface MixPeer { did: string, peerId: string }

export interface MixDirectory {
  start(): Promise<void>
  stop(): Promise<void>
  /** The mix peers known now (never this node). */
  list(): MixPeer[]
}

const DEFAULTS = { maxPeers: 256, maxPeersPerHost: 2, timeoutMs: 5_000 }

export function createMixDirectory (components: MixDirectoryComponents, init: MixDirectoryInit): MixDirectory {
  const { libp2p, resolver, logger } = components
  const options = { ...DEFAULTS, ...init }
  /** Mediator DIDs and hosts by peer ID. */
  const peers = new Map<string, { did: string, host: string }>()
  /** Connection IDs this node asked on, and answered on: one exchange each way per connection. */
  const asked = new Set<string>()
  const answered = new Set<string>()

  /** Keeps `claim` when it is a DID whose document names the peer, and the directory has room for it. */
  async function accept (connection: Connection, claim: Uint8Array): Promise<void> {
    if (claim.length === 0) return
    const peer = connection.remotePeer.toString()
    const did = toString(claim)
    try {
      if ((await didcommEndpoints(resolver, did)).libp2p !== peer) {
        logger.debug({ peer }, 'mix peer claimed a DID that does not name it; ignored')
        return
      }
    } catch (err) {
      logger.debug({ err, peer }, 'mix peer claimed an unresolvable DID; ignored')
      return
    }
    // It may have gone while its claim was checked.
    if (libp2p.getConnections(connection.remotePeer).length === 0) return
    const listed = peers.get(peer)
    if (listed !== undefined) {
      listed.did = did
      return
    }
    const host = hostOf(connection.remoteAddr)
    const full = peers.size >= options.maxPeers
    if (full || [...peers.values()].filter(p => p.host === host).length >= options.maxPeersPerHost) {
      logger.debug({ peer, host }, full ? 'mix directory full; peer not listed' : 'mix peers of this host at the limit; peer not listed')
      return
    }
    peers.set(peer, { did, host })
  }

  const ownClaim = (): Uint8Array => fromString(options.mix ? components.did() : '')

  /** Reads the other side's claim: one frame, capped at the longest DID accepted anywhere. */
  async function exchange (stream: Stream, connection: Connection, first: 'send' | 'read'): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: DID_LIMITS.maxLength })
    const signal = AbortSignal.timeout(options.timeoutMs)
    if (first === 'send') await lp.write(ownClaim(), { signal })
    const claim = (await lp.read({ signal })).subarray()
    if (first === 'read') await lp.write(ownClaim(), { signal })
    await stream.close({ signal })
    await accept(connection, claim)
  }

  /** Asks on `connection` unless an exchange ran on it already (each side got the other's claim then). */
  async function ask (connection: Connection): Promise<void> {
    if (asked.has(connection.id) || answered.has(connection.id)) return
    asked.add(connection.id)
    try {
      const stream = await connection.newStream(MIX_PROTOCOL, { signal: AbortSignal.timeout(options.timeoutMs) })
      await exchange(stream, connection, 'send').catch((err: unknown) => { stream.abort(err as Error) })
    } catch (err) {
      logger.debug({ err, peer: connection.remotePeer.toString() }, 'mix directory exchange failed')
    }
  }

  async function answer (stream: Stream, connection: Connection): Promise<void> {
    if (answered.has(connection.id)) {
      stream.abort(new Error('one mix directory exchange per connection'))
      return
    }
    answered.add(connection.id)
    await exchange(stream, connection, 'read').catch((err: unknown) => {
      logger.debug({ err, peer: connection.remotePeer.toString() }, 'mix directory exchange failed')
      stream.abort(err as Error)
    })
  }

  const onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    if (event.detail.protocols.includes(MIX_PROTOCOL)) void ask(event.detail.connection)
  }
  const onClose = (event: CustomEvent<Connection>): void => {
    asked.delete(event.detail.id)
    answered.delete(event.detail.id)
  }
  const onDisconnect = (event: CustomEvent<PeerId>): void => { peers.delete(event.detail.toString()) }

  return {
    async start () {
      if (options.mix) {
        await libp2p.handle(MIX_PROTOCOL, answer, { maxInboundStreams: 2 })
      }
      libp2p.addEventListener('peer:identify', onIdentify)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      libp2p.addEventListener('connection:close', onClose)
      // Peers identified before the directory started.
      for (const connection of libp2p.getConnections()) {
        const known = await libp2p.peerStore.get(connection.remotePeer).catch(() => undefined)
        if (known?.protocols.includes(MIX_PROTOCOL) === true) void ask(connection)
      }
    },

    async stop () {
      libp2p.removeEventListener('peer:identify', onIdentify)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      libp2p.removeEventListener('connection:close', onClose)
      if (options.mix) await libp2p.unhandle(MIX_PROTOCOL)
    },

    list: () => [...peers].map(([peerId, { did }]) => ({ did, peerId }))
  }
}
