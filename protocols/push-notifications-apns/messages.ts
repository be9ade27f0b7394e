import { z } from 'zod'
import { parseBody } from '../message.ts'
import { deviceToken } from '../push-notifications/messages.ts'
import type { PushVocabulary } from '../push-notifications/messages.ts'

/** Aries RFC 0699, carried as DIDComm v2 messages. */
export const PUSH_APNS = 'https://didcomm.org/push-notifications-apns/1.0'

const setBody = z.object({ device_token: deviceToken.nullable() })

export const APNS: PushVocabulary = {
  protocol: PUSH_APNS,
  kind: 'apns',
  parseSet (inbound) {
    const body = parseBody(setBody, inbound)
    return body.device_token === null ? null : { token: body.device_token }
  },
  // The RFC's device-info names one device (the newest); `devices` lists every one, with the id its pushes carry.
  describe (devices) {
    return {
      device_token: devices.at(-1)?.token ?? null,
      devices: devices.map(d => ({ id: d.id, device_token: d.token }))
    }
  }
}
