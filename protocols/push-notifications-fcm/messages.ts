import { z } from 'zod'
import { parseBody } from '../message.ts'
import { deviceToken } from '../push-notifications/messages.ts'
import type { PushVocabulary } from '../push-notifications/messages.ts'

/** Aries RFC 0734, carried as DIDComm v2 messages. */
export const PUSH_FCM = 'https://didcomm.org/push-notifications-fcm/1.0'

export const devicePlatform = z.string().min(1).max(32).regex(/^[A-Za-z0-9._-]+$/, 'a platform name such as android or ios')

const setBody = z.object({ device_token: deviceToken.nullable(), device_platform: devicePlatform.nullable().optional() })

export const FCM: PushVocabulary = {
  protocol: PUSH_FCM,
  kind: 'fcm',
  parseSet (inbound) {
    const body = parseBody(setBody, inbound)
    if (body.device_token === null) return null
    return { token: body.device_token, ...(typeof body.device_platform === 'string' ? { platform: body.device_platform } : {}) }
  },
  // The RFC's device-info names one device (the newest); `devices` lists every one, with the id its pushes carry.
  describe (devices) {
    const newest = devices.at(-1)
    return {
      device_token: newest?.token ?? null,
      device_platform: newest?.platform ?? null,
      devices: devices.map(d => ({ id: d.id, device_token: d.token, device_platform: d.platform ?? null }))
    }
  }
}
