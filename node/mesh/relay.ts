import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { MeshLibp2p } from '../libp2p.ts'
import { DIDCOMM_MESH_PROTOCOL, decodeStatus } from '../transports/libp2p.ts'
import type { StatusFrame } from '../transports/libp2p.ts'
import type { Route } from './routes.ts'

export interface RelayInit {
  /** Time allowed to dial, send and receive the status. */
  timeoutMs?: number
}

/** The outcome of one delivery attempt: accepted, rejected for good (the receiver said no), or worth retrying. */
export type DeliveryResult = { outcome: 'accepted' } | { outcome: 'rejected', code: string, comment: string } | { outcome: 'retry', reason: string }

const STATUS_MAX_BYTES = 64 * 1024

/**
 * Sends one packed message along a route and waits for the receiver's acknowledgement, which it gives
 * only after a durable write. Connections are reused by libp2p; each message is one stream.
 */
export function createRelay (libp2p: MeshLibp2p, init: RelayInit = {}): { send(route: Route, packed: string): Promise<DeliveryResult> } {
  const timeoutMs = init.timeoutMs ?? 10_000

  async function overLibp2p (peerId: PeerId, packed: string): Promise<DeliveryResult> {
    const signal = AbortSignal.timeout(timeoutMs)
    let status: StatusFrame
    try {
      const stream = await libp2p.dialProtocol(peerId, DIDCOMM_MESH_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: STATUS_MAX_BYTES })
      await lp.write(new TextEncoder().encode(packed), { signal })
      status = decodeStatus((await lp.read({ signal })).subarray())
      await stream.close({ signal })
    } catch (err) {
      return { outcome: 'retry', reason: err instanceof Error ? err.message : String(err) }
    }
    if (status.status === 'accepted') return { outcome: 'accepted' }
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
    }
  }
}
