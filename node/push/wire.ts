import type { PushRegistration } from '../../storage/store.ts'

/** How one push went: sent; gone (404/410: the device is no more, forget it); rejected for good; worth another try; or to an endpoint the node may not reach. */
export type PushOutcome = 'sent' | 'gone' | 'rejected' | 'retry' | 'not-allowed'

/** A push service's or a gateway's answer: 2xx sent, 404 and 410 gone, 408, 429 and 5xx retried, anything else final. */
export function outcomeOf (status: number): PushOutcome {
  if (status >= 200 && status < 300) return 'sent'
  if (status === 404 || status === 410) return 'gone'
  if (status === 408 || status === 429 || status >= 500) return 'retry'
  return 'rejected'
}

/**
 * Everything a push says: that messages wait, and which registration it is for (an opaque random id
 * the wallet got in device-info). No DID, sender, count or content.
 */
export function wakeMessage (device: Pick<PushRegistration, 'id'>): { event: 'messages-waiting', device: string } {
  return { event: 'messages-waiting', device: device.id }
}
