import { didOf } from '../../didcomm/resolver.ts'
import { MailboxFullError } from '../../storage/mailbox.ts'
import type { Handler } from '../types.ts'
import { ProblemReportError, parseBody } from '../types.ts'
import { forwardBody, forwardedMessage } from './messages.ts'

/**
 * A forward addressed to this node: the next layer is for one of our own DIDs (unwrap it here), or
 * for a recipient in a keylist (queue it). Anything else is refused and nothing is stored.
 * `please_ack` is ignored, as mediators should.
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
    throw new ProblemReportError('e.p.req.unknown-recipient', `no mediation here for ${nextDid}`, 422)
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
