import { ECDH } from 'node:crypto'
import { z } from 'zod'
import type { PushRegistration } from '../../storage/store.ts'
import { parseBody } from '../message.ts'
import { PROBLEM } from '../problem-report/codes.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import type { PushVocabulary } from '../push-notifications/messages.ts'

/**
 * A browser wallet's Web Push subscription (the W3C Push API's PushSubscription: RFC 8030 endpoint,
 * RFC 8291 keys), registered the way RFC 0734 registers an FCM token. The project's own protocol.
 */
export const PUSH_WEBPUSH = 'https://didcomm-mesh.org/push-notifications-webpush/1.0'

/** Push services' endpoints are a few hundred characters. */
export const ENDPOINT_MAX = 2048

/** base64url (padding tolerated) of exactly `bytes` bytes. */
const base64url = (bytes: number): z.ZodType<string> => z.string().max(4 * Math.ceil(bytes / 3))
  .transform(text => text.replace(/=+$/, ''))
  .refine(text => /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, 'base64url').length === bytes, `base64url of ${bytes} bytes`)

/** An uncompressed P-256 point: encrypting to anything else would fail at every push. */
const p256Point = base64url(65).refine(text => {
  try {
    ECDH.convertKey(Buffer.from(text, 'base64url'), 'prime256v1')
    return Buffer.from(text, 'base64url')[0] === 4
  } catch {
    return false
  }
}, 'an uncompressed P-256 public key')

export const subscriptionSchema = z.object({
  endpoint: z.string().min(1).max(ENDPOINT_MAX),
  keys: z.object({ p256dh: p256Point, auth: base64url(16) }),
  expirationTime: z.number().nullable().optional()
})

export type WebPushSubscription = z.infer<typeof subscriptionSchema>

const setBody = z.object({ subscription: subscriptionSchema.nullable() })

const asSubscription = (d: PushRegistration): Pick<WebPushSubscription, 'endpoint' | 'keys'> => ({ endpoint: d.token, keys: d.keys ?? { p256dh: '', auth: '' } })

export interface WebPushInit {
  /** The node's VAPID public key (base64url, uncompressed P-256): a browser subscribes with it as applicationServerKey. */
  vapidPublicKey: string
  /** Whether the node may post to this endpoint (an allowed push service at an address it may reach). */
  endpointAllowed(endpoint: string): boolean
}

export function webPushVocabulary (init: WebPushInit): PushVocabulary {
  return {
    protocol: PUSH_WEBPUSH,
    kind: 'webpush',
    parseSet (inbound) {
      const { subscription } = parseBody(setBody, inbound)
      if (subscription === null) return null
      if (!init.endpointAllowed(subscription.endpoint)) {
        throw new ProblemReportError(PROBLEM.destinationNotAllowed, 'this node does not send Web Push to that endpoint: it must be an https URL of a push service the operator allows')
      }
      return { token: subscription.endpoint, keys: subscription.keys }
    },
    describe (devices) {
      const newest = devices.at(-1)
      return {
        vapid_public_key: init.vapidPublicKey,
        subscription: newest === undefined ? null : asSubscription(newest),
        devices: devices.map(d => ({ id: d.id, subscription: asSubscription(d) }))
      }
    }
  }
}
