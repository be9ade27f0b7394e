import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { PlainMessage } from '../../didcomm/envelope.ts'
import { ENCRYPTED_MEDIA_TYPE, parseJson } from '../../didcomm/jose.ts'
import type { MailboxStatus, QueuedMessage } from '../../storage/store.ts'
import type { PickupVersion } from './live.ts'

/** Pickup 3.0 and 4.0 share a flow; 4.0 renames the limit, counts time in milliseconds and may send empty deliveries. */
export interface PickupVocabulary {
  version: PickupVersion
  protocol: string
  limitField: 'limit' | 'message_count_limit'
  /** epoch milliseconds → the version's time unit */
  time: (ms: number) => number
  /** 4.0 answers a delivery-request with an empty delivery when nothing waits; 3.0 with a status. */
  emptyDelivery: boolean
}

export const PICKUP_V3: PickupVocabulary = {
  version: '3.0',
  protocol: 'https://didcomm.org/messagepickup/3.0',
  limitField: 'limit',
  time: ms => Math.floor(ms / 1000),
  emptyDelivery: false
}

export const PICKUP_V4: PickupVocabulary = {
  version: '4.0',
  protocol: 'https://didcomm.org/message-pickup/4.0',
  limitField: 'message_count_limit',
  time: ms => ms,
  emptyDelivery: true
}

export const PICKUP_VERSIONS: Record<PickupVersion, PickupVocabulary> = { '3.0': PICKUP_V3, '4.0': PICKUP_V4 }

/**
 * The most messages one delivery carries, and the most bytes of queued messages (always at least
 * one message, however large): a delivery is read, encoded and encrypted whole, so a box of large
 * messages must not make one request hold a hundred megabytes.
 */
export const DELIVERY_MAX = 1000
export const DELIVERY_MAX_BYTES = 1_048_576

export const statusRequestBody = z.object({ recipient_did: z.string().min(1).optional() })
export const deliveryRequestBody = (v: PickupVocabulary): z.ZodType<{ limit: number, recipient_did?: string | undefined }> =>
  z.object({ [v.limitField]: z.number().int().min(1), recipient_did: z.string().min(1).optional() })
    .transform(body => ({ limit: Math.min(body[v.limitField] as number, DELIVERY_MAX), recipient_did: body.recipient_did as string | undefined }))
/** Ids are this node's attachment ids (43 characters); the list is bounded before any lookup. */
export const messagesReceivedBody = z.object({ message_id_list: z.array(z.string().min(1).max(128)).max(1000) })
export const liveDeliveryChangeBody = z.object({ live_delivery: z.boolean() })

export function statusBody (v: PickupVocabulary, status: MailboxStatus, live: boolean, recipient: string | undefined, now = Date.now()): Record<string, unknown> {
  return {
    ...(recipient === undefined ? {} : { recipient_did: recipient }),
    message_count: status.count,
    total_bytes: status.bytes,
    live_delivery: live,
    ...(status.oldest === undefined
      ? {}
      : {
          longest_waited_seconds: Math.floor((now - status.oldest) / 1000),
          oldest_received_time: v.time(status.oldest),
          newest_received_time: v.time(status.newest ?? status.oldest)
        })
  }
}

/** How a delivery attaches each message: standard padded base64 for most, `json` for Veramo (it reads nothing else). */
export type AttachmentForm = 'base64' | 'json'

function attachmentData (message: string, form: AttachmentForm): { base64: string } | { json: unknown } {
  if (form === 'json') {
    // Queued messages are JWEs, so JSON; anything else still travels, in base64.
    const json = parseJson(message)
    if (json !== undefined) return { json }
  }
  return { base64: Buffer.from(message).toString('base64') }
}

/**
 * A `delivery` of queued messages, each attached under its message id as standard padded base64
 * (browser wallets decode with atob, so never base64url), or as `json` when `form` asks for it.
 */
export function deliveryMessage (v: PickupVocabulary, messages: readonly QueuedMessage[], from: string, to: string, recipient?: string, thid?: string, form: AttachmentForm = 'base64'): PlainMessage {
  return {
    id: randomUUID(),
    type: `${v.protocol}/delivery`,
    from,
    to: [to],
    ...(thid === undefined ? {} : { thid }),
    created_time: Math.floor(Date.now() / 1000),
    body: recipient === undefined ? {} : { recipient_did: recipient },
    attachments: messages.map(m => ({
      id: m.id,
      media_type: ENCRYPTED_MEDIA_TYPE,
      data: attachmentData(m.message, form)
    }))
  }
}
