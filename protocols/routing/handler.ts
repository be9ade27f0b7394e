import { didOf } from '../../didcomm/resolver.ts'
import { MailboxFullError } from '../../storage/mailbox.ts'
import type { Handler, HandlerContext, InboundMessage } from '../types.ts'
import { ProblemReportError, parseBody } from '../types.ts'
import { forwardBody, forwardedMessage } from './messages.ts'

/**
 * Who may use this node as a relay to another mediator: its own clients (a DID holding mediation, or
 * one in a client's keylist), mesh peers over libp2p (a later hop of a multi-hop path), or anyone on
 * an open relay. Anonymous posters cannot turn a node into a spam relay.
 */
async function mayRelay (inbound: InboundMessage, ctx: HandlerContext): Promise<{ allowed: boolean, client?: string }> {
  const sender = inbound.sender
  if (sender !== undefined) {
    if (await ctx.mediations.get(sender) !== undefined) return { allowed: true, client: sender }
    const holder = await ctx.mediations.findRecipient(sender)
    if (holder !== undefined) return { allowed: true, client: holder.client }
  }
  return { allowed: ctx.onward.open || ctx.session.transport === 'libp2p' }
}

/**
 * A forward addressed to this node: the next layer is for one of our own DIDs (unwrap it here), for
 * a recipient in a keylist (queue it), or for another mediator (relay it through the outbox).
 * Anything else is refused and nothing is stored. `please_ack` is ignored, as mediators should.
 */
export const handleForward: Handler = async (inbound, ctx) => {
  const { next } = parseBody(forwardBody, inbound)
  const expires = inbound.message.expires_time
  if (typeof expires === 'number' && expires * 1000 < Date.now()) {
    throw new ProblemReportError('e.p.msg.expired', 'forward expired before it arrived', 400)
  }
  const packed = forwardedMessage(inbound.message)
  if (Buffer.byteLength(packed) > ctx.limits.maxMessageBytes) {
    throw new ProblemReportError('e.p.msg.too-big', `forwarded message exceeds ${ctx.limits.maxMessageBytes} bytes`, 413)
  }
  const nextDid = didOf(next)
  if (ctx.ownDids.has(nextDid)) {
    await ctx.receive(packed)
    return {}
  }
  const holder = await ctx.mediations.findRecipient(nextDid)
  if (holder === undefined) {
    if (!await ctx.onward.routable(nextDid)) {
      throw new ProblemReportError('e.p.req.unknown-recipient', `no mediation here for ${nextDid}, and it is not a mediator this node can reach`, 422)
    }
    const relay = await mayRelay(inbound, ctx)
    if (!relay.allowed) {
      throw new ProblemReportError('e.p.req.relay-not-allowed', 'this node relays to other mediators only for its own clients and mesh peers', 403)
    }
    await ctx.onward.enqueue(nextDid, packed, {
      expiresAt: typeof expires === 'number' ? expires * 1000 : undefined,
      origin: relay.client,
      thid: inbound.message.id
    })
    return {}
  }
  try {
    await ctx.mailbox.add(holder.recipient, packed)
  } catch (err) {
    if (err instanceof MailboxFullError) throw new ProblemReportError('e.p.me.res.storage.full', `recipient's ${err.message}`, 507)
    throw err
  }
  ctx.live.queued(holder.client, holder.recipient)
  return {}
}
