import type { Connection, Stream } from '@libp2p/interface'
import { UnexpectedEOFError, lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import { slots } from '../../storage/concurrency.ts'
import type { Inbound, InboundOutcome } from '../inbound.ts'
import type { Session } from '../../protocols/message.ts'
import { hostOf } from '../libp2p.ts'
import type { MeshLibp2p } from '../libp2p.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'
import type { RateLimiter } from '../rate-limit.ts'
import { DIDCOMM_MESH_PROTOCOL, DIF_DIDCOMM_PROTOCOL, RECEIVER_IDLE_MS, encodeStatus } from '../wire.ts'
import type { StatusFrame } from '../wire.ts'

export interface Libp2pTransportInit {
  /** Checked against each frame's length prefix, before its body is read. */
  maxMessageBytes: number
  /** Requests per remote peer. */
  rateLimiter: RateLimiter
  /** Requests per remote IP address, all its peers together: peer IDs cost nothing to make. */
  hostRateLimiter: RateLimiter
  /** Milliseconds allowed for reading the request and for writing the answer. */
  timeout?: number
}

const DEFAULT_TIMEOUT = 10_000
/** Frames of one stream processed at once; a sender pipelining more waits for their statuses. */
const MAX_IN_FLIGHT = 32
/**
 * Frames of one connection processed at once, across all its streams and both protocols (each may
 * hold up to maxMessageBytes); a stream with a frame beyond that reads no more until one is done.
 */
const MAX_PROCESSING = 32
/** DIDComm streams one connection may hold open at once (a relaying node needs one). */
const MAX_INBOUND_STREAMS = 16

/** Registers both DIDComm stream protocols on libp2p; framing only, the inbound pipeline does the rest. */
export async function startLibp2pTransport (libp2p: MeshLibp2p, inbound: Inbound, init: Libp2pTransportInit, logger: Logger): Promise<void> {
  const timeout = init.timeout ?? DEFAULT_TIMEOUT
  // The remote peer is who relayed a message here: outbox quotas count per peer.
  const sessionOf = (connection: Connection): Session => ({ transport: 'libp2p', peer: connection.remotePeer.toString(), host: hostOf(connection.remoteAddr) })

  async function readRequest (stream: Stream): Promise<{ lp: ReturnType<typeof lpStream<Stream>>, request: Uint8Array }> {
    const lp = lpStream(stream, { maxDataLength: init.maxMessageBytes })
    const request = (await lp.read({ signal: AbortSignal.timeout(timeout) })).subarray()
    return { lp, request }
  }

  /** The next frame, or undefined once the sender has closed its side between frames. */
  async function nextFrame (lp: ReturnType<typeof lpStream<Stream>>, stream: Stream): Promise<Uint8Array | undefined> {
    try {
      return (await lp.read({ signal: AbortSignal.timeout(RECEIVER_IDLE_MS) })).subarray()
    } catch (err) {
      if (err instanceof UnexpectedEOFError && stream.remoteWriteStatus !== 'writable') return undefined
      throw err
    }
  }

  /** A request counts against its peer and, once the peer's own budget allows it, against the peer's IP address. */
  function allowed (connection: Connection): boolean {
    return init.rateLimiter.allow(connection.remotePeer.toString()) && init.hostRateLimiter.allow(hostOf(connection.remoteAddr))
  }

  const processing = new WeakMap<Connection, () => Promise<() => void>>()
  /** A processing slot of the connection: a peer's streams together process at most MAX_PROCESSING frames. */
  async function slot (connection: Connection): Promise<() => void> {
    let take = processing.get(connection)
    if (take === undefined) {
      take = slots(MAX_PROCESSING)
      processing.set(connection, take)
    }
    return await take()
  }

  const rateLimited: InboundOutcome = { replies: [], problem: { code: PROBLEM.rateLimited, comment: 'too many requests from this peer or its address; send again shortly' } }

  function statusOf (outcome: InboundOutcome): StatusFrame {
    const replies = outcome.replies.map(reply => reply.text)
    return outcome.problem === undefined
      ? { status: 'accepted', ...(replies.length > 0 ? { replies } : {}) }
      : { status: 'rejected', code: outcome.problem.code, comment: outcome.problem.comment, replies }
  }

  await libp2p.handle(DIDCOMM_MESH_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const lp = lpStream(stream, { maxDataLength: init.maxMessageBytes })
    // Frames are processed concurrently (their writes share group commits); statuses go back in order.
    let answered: Promise<void> = Promise.resolve()
    let inFlight = 0
    try {
      const session = sessionOf(connection)
      for (let request = await nextFrame(lp, stream); request !== undefined; request = await nextFrame(lp, stream)) {
        const release = await slot(connection)
        const outcome = allowed(connection) ? inbound.receive(request, session) : Promise.resolve(rateLimited)
        outcome.then(release, release)
        inFlight++
        answered = answered.then(async () => {
          const settled = await outcome
          await lp.write(encodeStatus(statusOf(settled)), { signal: AbortSignal.timeout(timeout) })
          settled.after?.()
          inFlight--
        })
        answered.catch((err: unknown) => { stream.abort(err as Error) })
        if (inFlight >= MAX_IN_FLIGHT) await answered
      }
      await answered
      await stream.close()
    } catch (err) {
      logger.debug({ err, peer: connection.remotePeer.toString() }, 'libp2p request failed')
      stream.abort(err as Error)
    }
  }, { runOnLimitedConnection: false, maxInboundStreams: MAX_INBOUND_STREAMS })

  await libp2p.handle(DIF_DIDCOMM_PROTOCOL, async (stream: Stream, connection: Connection) => {
    try {
      const { request } = await readRequest(stream)
      // The stream stays open until the message is processed, so MAX_INBOUND_STREAMS bounds those waiting.
      const release = await slot(connection)
      let outcome: InboundOutcome
      try {
        outcome = allowed(connection) ? await inbound.receive(request, sessionOf(connection)) : rateLimited
      } finally {
        release()
      }
      await stream.close()
      if (outcome.problem !== undefined) logger.debug({ problem: outcome.problem, peer: connection.remotePeer.toString() }, 'didcomm/v2 message refused')
    } catch (err) {
      logger.debug({ err }, 'didcomm/v2 stream failed')
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: MAX_INBOUND_STREAMS })
}
