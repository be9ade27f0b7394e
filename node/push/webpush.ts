import webpush from 'web-push'
import type { PushRegistration } from '../../storage/store.ts'
import { DestinationNotAllowedError, safeRequest } from '../mesh/destination.ts'
import { pushEndpointAllowed } from './endpoints.ts'
import type { PushEndpointPolicy } from './endpoints.ts'
import type { VapidKeys } from './vapid.ts'
import { outcomeOf, wakeMessage } from './wire.ts'
import type { PushOutcome } from './wire.ts'

export interface WebPushSenderInit {
  vapid: VapidKeys
  /** The VAPID `sub` claim: how a push service reaches the operator. */
  subject: string
  policy: PushEndpointPolicy
  timeoutMs: number
  /** How long the push service keeps a push for an unreachable device. */
  ttlSeconds: number
}

/**
 * Sends one Web Push: the wake message encrypted to the subscription (RFC 8291, aes128gcm) and signed
 * with the node's VAPID key (RFC 8292), both by web-push; the POST is the node's own, so the endpoint
 * gets the same checks as a relay (allow-list, public addresses at connect time, no redirects, the
 * answer's body unread).
 */
export function webPushSender (init: WebPushSenderInit): (device: PushRegistration) => Promise<PushOutcome> {
  const vapidDetails = { subject: init.subject, publicKey: init.vapid.publicKey, privateKey: init.vapid.privateKey }
  return async device => {
    // The allow-list may have changed since the device registered.
    if (!pushEndpointAllowed(device.token, init.policy)) return 'not-allowed'
    if (device.keys === undefined) return 'rejected'
    let request: webpush.RequestDetails
    try {
      request = webpush.generateRequestDetails({ endpoint: device.token, keys: device.keys }, JSON.stringify(wakeMessage(device)), {
        // One topic: a push the service still holds for an offline device is replaced, not added to.
        vapidDetails, TTL: init.ttlSeconds, urgency: 'high', topic: 'messages-waiting', contentEncoding: 'aes128gcm'
      })
    } catch {
      return 'rejected'
    }
    try {
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]))
      return outcomeOf((await safeRequest(request.endpoint, { method: 'POST', body: request.body ?? Buffer.alloc(0), headers, privateDestinations: init.policy.privateDestinations, timeoutMs: init.timeoutMs })).status)
    } catch (err) {
      return err instanceof DestinationNotAllowedError ? 'not-allowed' : 'retry'
    }
  }
}
