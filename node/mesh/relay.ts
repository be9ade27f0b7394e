import type { PeerId } from '@libp2p/interface'
import { raceSignal } from 'race-signal'
import { ENCRYPTED_MEDIA_TYPE } from '../../didcomm/jose.ts'
import type { MeshLibp2p } from '../libp2p.ts'
import { retryLater } from '../wire.ts'
import type { StatusFrame } from '../wire.ts'
import { RelayChannel } from './channel.ts'
import { DestinationNotAllowedError, safeRequest } from './destination.ts'
import type { Route } from './routes.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'

export interface RelayInit {
  /** Time allowed to dial, send and receive the status. */
  timeoutMs?: number
  /** Whether HTTP destinations on loopback, private and other non-public addresses may be reached. */
  privateDestinations?: boolean
}

const notAllowed: DeliveryResult = { outcome: 'rejected', code: PROBLEM.destinationNotAllowed, comment: 'this node does not relay to that destination' }

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
  const privateDestinations = init.privateDestinations ?? false
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
      // Raced as a whole: the outbox's round waits on this, so no step of a dial (a protocol
      // negotiation, a peer store write) may keep it past the timeout.
      status = await raceSignal((async () => await (await channelTo(peerId, signal)).request(packed, signal))(), signal)
    } catch (err) {
      return { outcome: 'retry', reason: err instanceof Error ? err.message : String(err) }
    }
    if (status.status === 'accepted') return { outcome: 'accepted' }
    if (retryLater(status.code)) return { outcome: 'retry', reason: 'the next hop asks to send again later' }
    // The code goes back to the sender when it is a well-formed one; the next hop's own comment never does.
    const code = /^[ew]\.[pm]\.[a-z0-9.-]{1,80}$/.test(status.code ?? '') ? status.code as string : PROBLEM.xfer
    return { outcome: 'rejected', code, comment: 'the next mediator refused the message' }
  }

  /**
   * A standard mediator outside the mesh: 2xx means accepted; 408, 429 and 5xx are retried; anything
   * else is final, a redirect too (it is not followed). The target's own answer is never passed on:
   * it would tell the sender what listens where.
   */
  async function overHttp (url: string, packed: string): Promise<DeliveryResult> {
    try {
      const { status } = await safeRequest(url, { method: 'POST', body: Buffer.from(packed), headers: { 'content-type': ENCRYPTED_MEDIA_TYPE }, privateDestinations, timeoutMs })
      if (status >= 200 && status < 300) return { outcome: 'accepted' }
      if (status === 408 || status === 429 || status >= 500) return { outcome: 'retry', reason: `HTTP ${status}` }
      return { outcome: 'rejected', code: PROBLEM.cantUseEndpoint, comment: 'the next mediator did not accept the message' }
    } catch (err) {
      if (err instanceof DestinationNotAllowedError) return notAllowed
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
