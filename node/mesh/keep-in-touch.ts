import { KEEP_ALIVE } from '@libp2p/interface'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'

/** Long enough to outlast an outage; short enough that a peer no longer relayed to is dropped. */
const TAG_TTL_MS = 24 * 60 * 60 * 1000
const TAG = `${KEEP_ALIVE}-didcomm-mesh-relay`

export interface KeepInTouch {
  /** Marks a peer this node relayed to: libp2p redials it when it drops and when this node starts. */
  relayedTo(peer: PeerId): void
  stop(): void
}

/**
 * Without it, a next hop that restarts is tried again only when the outbox's backoff ends (a minute
 * or more after a few failed rounds): nobody dials anybody. A keep-alive tag makes libp2p redial the
 * peer as it drops (five tries over about 30 s) and at this node's own start; the connection wakes
 * the hop (outbox.retryNow). Tagged once per connection: one peer store write, not one per message.
 */
export function keepInTouch (libp2p: Pick<Libp2p, 'addEventListener' | 'removeEventListener' | 'peerStore'>, logger: Pick<Logger, 'debug'>): KeepInTouch {
  const tagged = new Set<string>()
  // libp2p removes the tag when its redials fail; the next relay after a reconnect sets it again.
  const onDisconnect = (event: CustomEvent<PeerId>): void => { tagged.delete(event.detail.toString()) }
  libp2p.addEventListener('peer:disconnect', onDisconnect)
  return {
    relayedTo (peer) {
      const key = peer.toString()
      if (tagged.has(key)) return
      tagged.add(key)
      libp2p.peerStore.merge(peer, { tags: { [TAG]: { value: 1, ttl: TAG_TTL_MS } } }).catch((err: unknown) => {
        tagged.delete(key)
        logger.debug({ err, peer: key }, 'could not tag a relay peer')
      })
    },
    stop () {
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      tagged.clear()
    }
  }
}
