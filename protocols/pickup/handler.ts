import type { Mailbox, MailboxStatus } from '../../storage/store.ts'
import type { Mediations } from '../../storage/store.ts'
import { requireMediation } from '../coordinate-mediation/handler.ts'
import type { Handler, InboundMessage, MessageContext } from '../message.ts'
import { parseBody, replyTo } from '../message.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import type { LiveDelivery } from './live.ts'
import {
  DELIVERY_MAX_BYTES, PICKUP_V3, PICKUP_V4, deliveryMessage, deliveryRequestBody, liveDeliveryChangeBody,
  messagesReceivedBody, statusBody, statusRequestBody
} from './messages.ts'
import type { PickupVocabulary } from './messages.ts'
import { PROBLEM } from '../problem-report/codes.ts'

export interface PickupComponents {
  mailbox: Pick<Mailbox, 'status' | 'list' | 'remove'>
  mediations: Pick<Mediations, 'get' | 'mailboxDids'>
  live: Pick<LiveDelivery, 'enable' | 'disable' | 'isLive' | 'inFlight' | 'pushing' | 'handOut' | 'acknowledged'>
  /** Told how many queued messages clients acknowledged (metrics). */
  delivered?: (count: number) => void
}

/** The recipients a request is about: the one it names (which the client must hold), else all of the client's. */
async function recipientsOf (client: string, named: string | undefined, mediations: Pick<Mediations, 'mailboxDids'>): Promise<string[]> {
  const held = await mediations.mailboxDids(client)
  if (named === undefined) return held
  if (!held.includes(named)) {
    throw new ProblemReportError(PROBLEM.recipientNotHeld, "the recipient_did named is not in this client's keylist")
  }
  return [named]
}

/**
 * What the client must still ask for. Messages pushed live and not yet acknowledged do not count,
 * nor do those the node is about to push to a live client (a message that has just arrived, or the
 * next ones once acknowledgements make room): a wallet that asks for them gets a status instead, or
 * them twice (the DIF demo sends a delivery-request for every status with a count). Only a backlog
 * beyond the in-flight window is counted then; its bytes and times are those of all that waits.
 */
async function waiting (client: string, recipients: string[], { mailbox, live }: Pick<PickupComponents, 'mailbox' | 'live'>): Promise<MailboxStatus> {
  const exclude = live.inFlight(client)
  const total: MailboxStatus = { count: 0, bytes: 0 }
  for (const recipient of recipients) {
    const s = await mailbox.status(recipient, exclude)
    total.count += s.count
    total.bytes += s.bytes
    if (s.oldest !== undefined && (total.oldest === undefined || s.oldest < total.oldest)) total.oldest = s.oldest
    if (s.newest !== undefined && (total.newest === undefined || s.newest > total.newest)) total.newest = s.newest
  }
  // Pushes claimed while the store was read were counted (they were not in `exclude`), and are no longer in pushing()'s room.
  const claimedSince = [...live.inFlight(client)].filter(id => !exclude.has(id)).length
  const beyondPushes = total.count - claimedSince - live.pushing(client)
  return beyondPushes > 0 ? { ...total, count: beyondPushes } : { count: 0, bytes: 0 }
}

function versionHandlers (v: PickupVocabulary, components: PickupComponents): Record<string, Handler> {
  const { mailbox, mediations, live } = components
  const status = async (inbound: InboundMessage, ctx: MessageContext, client: string, named?: string): Promise<ReturnType<typeof replyTo>> => {
    const recipients = await recipientsOf(client, named, mediations)
    const body = statusBody(v, await waiting(client, recipients, components), live.isLive(ctx.session), named)
    return replyTo(inbound, ctx, `${v.protocol}/status`, body)
  }

  return {
    [`${v.protocol}/status-request`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { recipient_did: named } = parseBody(statusRequestBody, inbound)
      return { replies: [await status(inbound, ctx, client, named)] }
    },

    [`${v.protocol}/delivery-request`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { limit, recipient_did: named } = parseBody(deliveryRequestBody(v), inbound)
      const recipients = await recipientsOf(client, named, mediations)
      // A live client asking (a backlog beyond the in-flight window) gets messages no push will repeat.
      const batch = await live.handOut(client, recipients, limit) ?? await mailbox.list(recipients, limit, live.inFlight(client), DELIVERY_MAX_BYTES)
      if (batch.length === 0 && !v.emptyDelivery) return { replies: [await status(inbound, ctx, client, named)] }
      const delivery = deliveryMessage(v, batch, ctx.nodeDid, client, named, inbound.message.thid ?? inbound.message.id, ctx.dialect === 'legacy' ? 'json' : 'base64')
      return { replies: [delivery] }
    },

    [`${v.protocol}/messages-received`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { message_id_list: ids } = parseBody(messagesReceivedBody, inbound)
      const removed = await mailbox.remove(await mediations.mailboxDids(client), ids)
      components.delivered?.(removed)
      live.acknowledged(client, ids)
      return { replies: [await status(inbound, ctx, client)] }
    },

    [`${v.protocol}/live-delivery-change`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { live_delivery: wanted } = parseBody(liveDeliveryChangeBody, inbound)
      if (!wanted) {
        live.disable(ctx.session)
        return { replies: [await status(inbound, ctx, client)] }
      }
      if (ctx.session.push === undefined) {
        throw new ProblemReportError(PROBLEM.liveModeNotSupported, `live delivery needs a WebSocket; this request came over ${ctx.session.transport}`)
      }
      // Claim the backlog first, so the status below already excludes what is about to be pushed.
      const pushBacklog = await live.enable(ctx.session, client, v.version, ctx.nodeDid)
      return { replies: [await status(inbound, ctx, client)], after: pushBacklog }
    }
  }
}

export const pickupProtocols = [PICKUP_V3.protocol, PICKUP_V4.protocol]
export function pickupHandlers (components: PickupComponents): Record<string, Handler> {
  return { ...versionHandlers(PICKUP_V3, components), ...versionHandlers(PICKUP_V4, components) }
}
