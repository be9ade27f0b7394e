import type { Logger } from 'pino'
import type { Envelope, PlainMessage } from '../didcomm/envelope.ts'
import { EnvelopeError } from '../didcomm/envelope.ts'
import { isJweJson } from '../didcomm/jose.ts'
import { didOf } from '../didcomm/resolver.ts'
import { problemReport } from '../protocols/problem-report/messages.ts'
import { FORWARD } from '../protocols/routing/messages.ts'
import type { Handler, HandlerResult, InboundMessage, Session } from '../protocols/message.ts'
import { ProblemReportError } from '../protocols/problem-report/error.ts'
import { StoreUnavailableError } from '../storage/store.ts'
import { scrubber } from './log.ts'
import type { NodeMetrics } from './metrics.ts'
import { createReplayGuard } from './replay.ts'
import type { ReturnRoutes } from './return-route.ts'
import { PROBLEM } from '../protocols/problem-report/codes.ts'

/**
 * A reply for the sender: a packed JWE, or a plaintext problem report (JSON) when the sender is
 * unknown or the report cannot be encrypted to it. HTTP names the media type after the kind.
 */
export interface Reply {
  kind: 'encrypted' | 'plain'
  text: string
}

/** What a transport does with a message: its status, and what to send back on the same connection. */
export interface InboundOutcome {
  replies: Reply[]
  /** Set when refused. */
  problem?: { code: string, comment: string }
  /** Call once the replies are sent. */
  after?: () => void
}

export interface InboundComponents {
  envelope: Envelope
  /** The node's mediator DIDs, current last. */
  dids: () => readonly string[]
  /** The protocols, bound to their components (createDispatcher). */
  dispatch: Handler
  logger: Logger
  /** Counts every outcome by transport and problem code, and the legacy JWE dialect's use. */
  metrics?: Pick<NodeMetrics, 'message' | 'legacyJwe'>
  /** Where replies go when a request says `return_route: "none"`; without it they stay on the connection. */
  returnRoutes?: ReturnRoutes
  /** False while the node starts or stops: what fails then (a closed store, a stopped worker) is "not now", not a fault. */
  accepting?: () => boolean
}

export interface Inbound {
  receive(raw: string | Uint8Array, session: Session): Promise<InboundOutcome>
}

/** A decrypted message, the DID of ours it was encrypted to (replies come from that DID) and the JWE dialect it came in (replies use it). */
type Addressed = InboundMessage & { to: string, dialect?: 'legacy' }

/** Forward layers addressed to this node that it will unwrap in a row, so a loop cannot recurse forever. */
const MAX_OWN_LAYERS = 4

/**
 * The one pipeline behind every transport: bytes → unpack → dispatch → packed replies. Transports
 * only frame; protocols only see decrypted messages and a small context.
 */
export function createInbound (components: InboundComponents): Inbound {
  const { envelope, logger } = components
  const replay = createReplayGuard()
  // Library errors name key ids and DIDs; a problem report names none.
  const scrub = scrubber()

  async function unpack (text: string): Promise<Addressed> {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new ProblemReportError(PROBLEM.malformed, 'the body is not JSON')
    }
    if (!isJweJson(json)) {
      throw new ProblemReportError(PROBLEM.unencrypted, 'this node accepts only encrypted DIDComm messages (a JWE, application/didcomm-encrypted+json)')
    }
    try {
      const { message, sender, recipientKids, dialect } = await envelope.unpackJwe(text, json)
      if (dialect !== undefined) components.metrics?.legacyJwe('received')
      // Handlers trust the authenticated sender only; a `from` naming someone else is refused, so none can come to trust it.
      if (sender !== undefined && message.from !== undefined && didOf(String(message.from)) !== sender) {
        throw new ProblemReportError(PROBLEM.senderMismatch, "the message's from is not the DID that encrypted it")
      }
      const own = components.dids()
      const addressed = recipientKids.map(didOf).find(did => own.includes(did)) ?? own[own.length - 1] as string
      return { message, sender, to: addressed, ...(dialect === undefined ? {} : { dialect }) }
    } catch (err) {
      if (err instanceof EnvelopeError) throw new ProblemReportError(PROBLEM.crypto, `cannot decrypt: ${scrub(err.message)}`)
      throw err
    }
  }

  async function dispatch (inbound: Addressed, session: Session, depth: number): Promise<HandlerResult> {
    // Forwards are exempt: senders resend them until acknowledged, and stores keep each packed message once.
    if (inbound.sender !== undefined && inbound.message.type !== FORWARD) replay.check(inbound.sender, inbound.message)
    // `mid`, the DIDComm message id (random, chosen by the sender), correlates this node's lines with the sender's.
    // `peer`: the libp2p peer that handed it over (the previous hop of a relay).
    logger.debug({ mid: inbound.message.id, type: inbound.message.type, from: inbound.sender, transport: session.transport, peer: session.peer }, 'message')
    return await components.dispatch(inbound, {
      nodeDid: inbound.to,
      session,
      ...(inbound.dialect === undefined ? {} : { dialect: inbound.dialect }),
      receive: async packed => {
        if (depth + 1 >= MAX_OWN_LAYERS) throw new ProblemReportError(PROBLEM.tooManyLayers, 'too many forward layers addressed to this node')
        await dispatch(await unpack(packed), session, depth + 1)
      }
    })
  }

  /** Replies to `request`'s sender, from the DID it was addressed to, in the dialect it came in. */
  async function packReplies (replies: PlainMessage[], request: Addressed & { sender: string }): Promise<Reply[]> {
    const options = request.dialect === undefined ? {} : { dialect: request.dialect }
    return await Promise.all(replies.map(async reply => {
      const text = await envelope.pack(reply, request.sender, request.to, options)
      if (request.dialect !== undefined) components.metrics?.legacyJwe('sent')
      return { kind: 'encrypted' as const, text }
    }))
  }

  return {
    async receive (raw, session) {
      const outcome = await handle(raw, session)
      components.metrics?.message(session.transport, outcome.problem?.code)
      return outcome
    }
  }

  async function handle (raw: string | Uint8Array, session: Session): Promise<InboundOutcome> {
    const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')
    // Kept outside the try, so that a handler's refusal is encrypted to the sender and threaded (pthid).
    let request: Addressed | undefined
    try {
      request = await unpack(text)
      // Forwards have no replies: they need no way back.
      const away = request.message.return_route === 'none' && request.sender !== undefined && request.message.type !== FORWARD
        ? await components.returnRoutes?.(request.sender, request.dialect)
        : undefined
      const result = await dispatch(request, session, 0)
      const replies = result.replies ?? []
      const sender = request.sender
      if (replies.length === 0 || sender === undefined) return { replies: [], after: result.after }
      if (away !== undefined) {
        await away.send(replies, request.to)
        return { replies: [], after: result.after }
      }
      return { replies: await packReplies(replies, { ...request, sender }), after: result.after }
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        // Nothing was stored, so nothing may be acknowledged: the sender keeps the message and retries.
        logger.warn({ err }, 'store unreachable; refusing')
        return await refuse(new ProblemReportError(PROBLEM.notReady, 'the node cannot reach its store; send again later'), request)
      }
      if (!(err instanceof ProblemReportError) && components.accepting?.() === false) {
        // A relaying peer told "internal error" would drop the message and report it undeliverable.
        logger.debug({ err }, 'failed while the node stops; refusing for now')
        return await refuse(new ProblemReportError(PROBLEM.notReady, 'the node is stopping; send again later'), request)
      }
      if (!(err instanceof ProblemReportError)) {
        logger.error({ err, mid: request?.message.id }, 'inbound message failed')
        return await refuse(new ProblemReportError(PROBLEM.internal, 'internal error'), request)
      }
      return await refuse(err, request)
    }
  }

  /** A problem report on the failed thread: encrypted to the sender when we know who it is, plaintext otherwise. */
  async function refuse (err: ProblemReportError, request: Addressed | undefined): Promise<InboundOutcome> {
    const problem = { code: err.code, comment: err.message }
    logger.debug({ problem, mid: request?.message.id }, 'refused')
    const sender = request?.sender
    const report = problemReport(err.code, err.message, {
      pthid: request?.message.thid ?? request?.message.id,
      ...(sender === undefined || request === undefined ? {} : { from: request.to, to: sender })
    })
    if (sender !== undefined && request !== undefined) {
      try {
        return { replies: await packReplies([report], { ...request, sender }), problem }
      } catch (packErr) {
        logger.debug({ err: packErr }, 'cannot encrypt problem report; answering in plaintext')
      }
    }
    return { replies: [{ kind: 'plain', text: JSON.stringify(report) }], problem }
  }
}
