/**
 * The directory of mix nodes: which mesh peers offer to be a hop of a sender's path, by mediator
 * DID. Peers tell each other their DIDs on a small protocol when they meet (identify), both ways in
 * one exchange: the dialler sends its own DID (empty when it is no mix), the listener answers with
 * its own. A claimed DID is kept only when its document names the claiming peer's ID (anyone can
 * claim any DID; only the peer a DID names can decrypt what is sent to it through the mesh).
 * A node that does not mix registers no handler, sends an empty claim and is listed by nobody.
 * A peer is listed while it is connected: a mix that went down is not offered to senders.
 */
import type { Connection, IdentifyResult, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import { fromString, toString } from 'uint8arrays'
import { DID_LIMITS } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { didcommEndpoints } from '../../didcomm/transport.ts'
import type { MeshLibp2p } from '../libp2p.ts'

export const MIX_PROTOCOL = '/didcomm-mesh/mix/1.0.0'

export interface MixDirectoryInit {
  /** Offer this node as a mix (answer the protocol, send our DID). */
  mix: boolean
  /** Peers listed at most; the one listed longest makes room. */
  maxPeers?: number
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

const DEFAULTS = { maxPeers: 256, timeoutMs: 5_000 }

export function createMixDirectory (components: MixDirectoryComponents, init: MixDirectoryInit): MixDirectory {
  const { libp2p, resolver, logger } = components
  const options = { ...DEFAULTS, ...init }
  /** Mediator DIDs by peer ID, in the order they were listed. */
  const peers = new Map<string, string>()
  const asking = new Set<string>()

  /** Keeps `claim` when it is a DID whose document names `peer`. */
  async function accept (peer: PeerId, claim: Uint8Array): Promise<void> {
    if (claim.length === 0) return
    const did = toString(claim)
    try {
      if ((await didcommEndpoints(resolver, did)).libp2p !== peer.toString()) {
        logger.debug({ peer: peer.toString() }, 'mix peer claimed a DID that does not name it; ignored')
        return
      }
    } catch (err) {
      logger.debug({ err, peer: peer.toString() }, 'mix peer claimed an unresolvable DID; ignored')
      return
    }
    // It may have gone while its claim was checked.
    if (libp2p.getConnections(peer).length === 0) return
    const key = peer.toString()
    peers.delete(key)
    if (peers.size >= options.maxPeers) peers.delete(peers.keys().next().value as string)
    peers.set(key, did)
  }

  const ownClaim = (): Uint8Array => fromString(options.mix ? components.did() : '')

  /** Reads the other side's claim: one frame, capped at the longest DID accepted anywhere. */
  async function exchange (stream: Stream, peer: PeerId, first: 'send' | 'read'): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: DID_LIMITS.maxLength })
    const signal = AbortSignal.timeout(options.timeoutMs)
    if (first === 'send') await lp.write(ownClaim(), { signal })
    const claim = (await lp.read({ signal })).subarray()
    if (first === 'read') await lp.write(ownClaim(), { signal })
    await stream.close({ signal })
    await accept(peer, claim)
  }

  async function ask (peer: PeerId): Promise<void> {
    const key = peer.toString()
    if (asking.has(key)) return
    asking.add(key)
    try {
      const stream = await libp2p.dialProtocol(peer, MIX_PROTOCOL, { signal: AbortSignal.timeout(options.timeoutMs) })
      await exchange(stream, peer, 'send').catch((err: unknown) => { stream.abort(err as Error) })
    } catch (err) {
      logger.debug({ err, peer: key }, 'mix directory exchange failed')
    } finally {
      asking.delete(key)
    }
  }

  const onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    if (event.detail.protocols.includes(MIX_PROTOCOL)) void ask(event.detail.peerId)
  }
  const onDisconnect = (event: CustomEvent<PeerId>): void => { peers.delete(event.detail.toString()) }

  return {
    async start () {
      if (options.mix) {
        await libp2p.handle(MIX_PROTOCOL, async (stream: Stream, connection: Connection) => {
          await exchange(stream, connection.remotePeer, 'read').catch((err: unknown) => {
            logger.debug({ err, peer: connection.remotePeer.toString() }, 'mix directory exchange failed')
            stream.abort(err as Error)
          })
        }, { maxInboundStreams: 2 })
      }
      libp2p.addEventListener('peer:identify', onIdentify)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      // Peers identified before the directory started.
      for (const peer of libp2p.getPeers()) {
        const known = await libp2p.peerStore.get(peer).catch(() => undefined)
        if (known?.protocols.includes(MIX_PROTOCOL) === true) void ask(peer)
      }
    },

    async stop () {
      libp2p.removeEventListener('peer:identify', onIdentify)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      if (options.mix) await libp2p.unhandle(MIX_PROTOCOL)
    },

    list: () => [...peers].map(([peerId, did]) => ({ did, peerId }))
  }
}
