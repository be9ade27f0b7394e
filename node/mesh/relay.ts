import type { PeerId } from '@libp2p/interface'
import type { MeshLibp2p } from '../libp2p.ts'
import { RATE_LIMITED } from '../rate-limit.ts'
import type { StatusFrame } from '../transports/libp2p.ts'
import { RelayChannel } from './channel.ts'
import type { Route } from './routes.ts'

export interface RelayInit {
  /** Time allowed to dial, send and receive the status. */
  timeoutMs?: number
}

/** The outcome of one delivery attempt: accepted, rejected for good (the receiver said no), or worth retrying. */
export type DeliveryResult = { outcome: 'accepted' } | { outcome: 'rejected', code: string, comment: string } | { outcome: 'retry', reason: string }

export interface Relay {
  send(route: Route, packed: string): Promise<DeliveryResult>
  /** Closes the open channels. */
  close(): void
}

/**
 * Sends one packed message along a route and waits for the receiver's acknowledgement, which it gives
 * only after a durable write. Over libp2p, messages to a peer share one pipelined channel.
 */
export function createRelay (libp2p: MeshLibp2p, init: RelayInit = {}): Relay {
  const timeoutMs = init.timeoutMs ?? 10_000
  const channels = new Map<string, Promise<RelayChannel>>()

  /** The peer's open channel, or a new one (one dial even when many messages ask at once). */
  async function channelTo (peerId: PeerId, signal: AbortSignal): Promise<RelayChannel> {
    const key = peerId.toString()
    const existing = channels.get(key)
    if (existing !== undefined) {
      const channel = await existing.catch(() => undefined)
      if (channel?.usable === true) return channel
      if (channels.get(key) !== existing) return await channelTo(peerId, signal)
    }
    const opening = RelayChannel.open(libp2p, peerId, signal)
    channels.set(key, opening)
    opening.catch(() => { if (channels.get(key) === opening) channels.delete(key) })
    return await opening
  }

  async function overLibp2p (peerId: PeerId, packed: string): Promise<DeliveryResult> {
    const signal = AbortSignal.timeout(timeoutMs)
    let status: StatusFrame
    try {
      status = await (await channelTo(peerId, signal)).request(packed, signal)
    } catch (err) {
      return { outcome: 'retry', reason: err instanceof Error ? err.message : String(err) }
    }
    if (status.status === 'accepted') return { outcome: 'accepted' }
    if (status.code === RATE_LIMITED) return { outcome: 'retry', reason: 'rate limited by the next hop' }
    return { outcome: 'rejected', code: status.code ?? 'e.p.xfer', comment: status.comment ?? 'rejected by the next hop' }
  }

  /** A standard mediator outside the mesh: 2xx means accepted, 4xx is final, anything else is retried. */
  async function overHttp (url: string, packed: string): Promise<DeliveryResult> {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: packed, signal: AbortSignal.timeout(timeoutMs) })
      await res.body?.cancel()
      if (res.ok) return { outcome: 'accepted' }
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return { outcome: 'rejected', code: 'e.p.xfer.cant-use-endpoint', comment: `HTTP ${res.status} from ${url}` }
      return { outcome: 'retry', reason: `HTTP ${res.status}` }
    } catch (err) {
      return { outcome: 'retry', reason: err instanceof Error ? err.message : String(err) }
    }
  }

  return {
    async send (route, packed) {
      return route.kind === 'libp2p' ? await overLibp2p(route.peerId, packed) : await overHttp(route.url, packed)
    },
    close () {
      for (const opening of channels.values()) void opening.then(channel => { channel.close() }, () => {})
      channels.clear()
    }
  }
}
