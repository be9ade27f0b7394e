import type { PushRegistration } from '../../storage/store.ts'
import { safeRequest } from '../mesh/destination.ts'
import { outcomeOf, wakeMessage } from './wire.ts'
import type { PushOutcome } from './wire.ts'

/**
 * Wakes an FCM or APNs device through the operator's push gateway (the wallet vendor's, holding the
 * FCM and APNs credentials; Matrix's Sygnal and XMPP app servers work the same way): a JSON POST of the
 * wake message with the device's token and platform. The gateway's URL is the operator's, so it may be
 * on a private network.
 */
export function gatewaySender (url: string, timeoutMs: number): (device: PushRegistration) => Promise<PushOutcome> {
  return async device => {
    const body = JSON.stringify({
      ...wakeMessage(device),
      token: device.token,
      platform: device.kind,
      ...(device.platform === undefined ? {} : { device_platform: device.platform })
    })
    try {
      return outcomeOf((await safeRequest(url, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/json' }, privateDestinations: true, timeoutMs })).status)
    } catch {
      return 'retry'
    }
  }
}
