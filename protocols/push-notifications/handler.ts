import { randomBytes } from 'node:crypto'
import type { Mediations, PushDevices, PushKind } from '../../storage/store.ts'
import { requireMediation } from '../coordinate-mediation/handler.ts'
import type { Handler } from '../message.ts'
import { replyTo } from '../message.ts'
import { PROBLEM } from '../problem-report/codes.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import { APNS } from '../push-notifications-apns/messages.ts'
import { FCM } from '../push-notifications-fcm/messages.ts'
import { webPushVocabulary } from '../push-notifications-webpush/messages.ts'
import type { WebPushInit } from '../push-notifications-webpush/messages.ts'
import type { PushVocabulary } from './messages.ts'

export interface PushComponents {
  mediations: Pick<Mediations, 'get'>
  pushDevices: Pick<PushDevices, 'register' | 'list' | 'clear'>
  /** Most devices one client may register, of all kinds together; a new one past it replaces the oldest. */
  maxPushDevicesPerClient: number
  /** Web Push: the node's VAPID public key and which endpoints it may post to. */
  webPush: WebPushInit
  /** Whether FCM and APNs wake-ups can be sent (the operator configured a push gateway); else those protocols are not offered. */
  pushGateway: boolean
  /** Told of registrations set and removed (metrics). */
  pushRegistrations?: (kind: PushKind, change: 'set' | 'removed', count: number) => void
}

/**
 * set-device-info registers a device for the sending client (a null token removes the client's
 * devices of that kind) and, as in the RFCs, has no answer; get-device-info answers device-info. Both
 * need a client holding mediation, authcrypted.
 */
function deviceInfoHandlers (v: PushVocabulary, components: PushComponents): Record<string, Handler> {
  const { mediations, pushDevices } = components
  return {
    [`${v.protocol}/set-device-info`]: async inbound => {
      const client = await requireMediation(inbound, mediations)
      const device = v.parseSet(inbound)
      if (device === null) {
        components.pushRegistrations?.(v.kind, 'removed', await pushDevices.clear(client, v.kind))
        return {}
      }
      const id = randomBytes(16).toString('base64url')
      const stored = await pushDevices.register({ id, client, kind: v.kind, registeredAt: Date.now(), ...device }, components.maxPushDevicesPerClient)
      if (stored === undefined) throw new ProblemReportError(PROBLEM.notEnrolled, 'no mediation granted to this DID: send a mediate-request first')
      components.pushRegistrations?.(v.kind, 'set', 1)
      return {}
    },
    [`${v.protocol}/get-device-info`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/device-info`, v.describe(await pushDevices.list(client, v.kind)))] }
    },
    // The node never asks a client for its device info: one sent anyway is noted, not answered.
    [`${v.protocol}/device-info`]: async () => ({})
  }
}

function vocabularies (components: Pick<PushComponents, 'pushGateway' | 'webPush'>): PushVocabulary[] {
  return [webPushVocabulary(components.webPush), ...components.pushGateway ? [FCM, APNS] : []]
}

/** The push protocols this node offers: Web Push always, FCM and APNs with a push gateway. */
export function pushProtocols (components: Pick<PushComponents, 'pushGateway' | 'webPush'>): string[] {
  return vocabularies(components).map(v => v.protocol)
}

export function pushHandlers (components: PushComponents): Record<string, Handler> {
  return Object.assign({}, ...vocabularies(components).map(v => deviceInfoHandlers(v, components))) as Record<string, Handler>
}
