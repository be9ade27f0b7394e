import { didOf } from '../../didcomm/resolver.ts'
import { MailboxFullError } from '../../storage/mailbox.ts'
import type { Handler, HandlerContext, InboundMessage } from '../types.ts'
import { ProblemReportError, parseBody } from '../types.ts'
import { forwardBody, forwardedMessage } from './messages.ts'
import { PROBLEM } from '../problem-report/codes.ts'

/** Who may relay through this node, to where, and whose quota the message counts against. */
type RelayPolicy = { allowed: false } | { allowed: true, meshOnly: boolean, sender: string, client?: string }

/**
 * Who may use this node as a relay to another mediator: its own clients (a DID holding mediation, or
 * one in a client's keylist), or anyone on an open relay, to any mediator; a mesh peer over libp2p
 * (a later hop of a multi-hop path), only to other mesh peers: an anonymous peer must not make this
 * node POST to HTTP endpoints. Decided before any resolution, so refusals cost nothing.
 */
async function relayPolicy (inbound: InboundMessage, ctx: HandlerContext): Promise<RelayPolicy> {
  const sender = inbound.sender
  if (sender !== undefined) {
    if (await ctx.mediations.get(sender) !== undefined) return { allowed: true, meshOnly: false, sender, client: sender }
    const holder = await ctx.mediations.findRecipient(sender)
    if (holder !== undefined) return { allowed: true, meshOnly: false, sender: holder.client, client: holder.client }
  }
  // Peer IDs cost nothing to make: a relaying peer's quota is its address's.
  const peer = ctx.session.host ?? ctx.session.peer
  if (ctx.onward.open) return { allowed: true, meshOnly: false, sender: sender ?? peer ?? 'anonymous' }
  if (peer !== undefined) return { allowed: true, meshOnly: true, sender: peer }
  return { allowed: false }
}

const notAllowed = (): ProblemReportError =>
  new ProblemReportError(PROBLEM.relayNotAllowed, 'this node relays to other mediators only for its own clients, and to mesh peers for mesh peers')

/**
 * A forward addressed to this node: the next layer is for one of our own DIDs (unwrap it here), for
 * a recipient in a keylist (queue it), or for another mediator (relay it through the outbox).
 * Anything else is refused and nothing is stored. `please_ack` is ignored, as mediators should.
 */
export const handleForward: Handler = async (inbound, ctx) => {
  const { next } = parseBody(forwardBody, inbound)
  const expires = inbound.message.expires_time
  if (typeof expires === 'number' && expires * 1000 < Date.now()) {
    throw new ProblemReportError(PROBLEM.expired, 'forward expired before it arrived')
  }
  const packed = forwardedMessage(inbound.message)
  if (Buffer.byteLength(packed) > ctx.limits.maxMessageBytes) {
    throw new ProblemReportError(PROBLEM.tooBig, `forwarded message exceeds ${ctx.limits.maxMessageBytes} bytes`)
  }
  const nextDid = didOf(next)
  if (ctx.ownDids.has(nextDid)) {
    await ctx.receive(packed)
    return {}
  }
  const holder = await ctx.mediations.findRecipient(nextDid)
  if (holder === undefined) {
    const relay = await relayPolicy(inbound, ctx)
    if (!relay.allowed) throw notAllowed()
    const destination = await ctx.onward.destination(nextDid)
    if (destination === undefined) {
      throw new ProblemReportError(PROBLEM.unknownRecipient, 'no mediation here for the next DID, and it is not a mediator this node can reach')
    }
    if (destination === 'refused') throw new ProblemReportError(PROBLEM.destinationNotAllowed, 'this node does not relay to that destination')
    if (destination === 'http' && relay.meshOnly) throw notAllowed()
    await ctx.onward.enqueue(nextDid, packed, {
      sender: relay.sender,
      expiresAt: typeof expires === 'number' ? expires * 1000 : undefined,
      origin: relay.client,
      thid: inbound.message.id
    })
    return {}
  }
  try {
    await ctx.mailbox.add(holder.recipient, packed)
  } catch (err) {
    if (err instanceof MailboxFullError) throw new ProblemReportError(PROBLEM.storageFull, `recipient's ${err.message}`)
    throw err
  }
  ctx.live.queued(holder.client, holder.recipient)
  return {}
}
