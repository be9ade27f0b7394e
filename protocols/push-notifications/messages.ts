import { z } from 'zod'
import type { PushKind, PushRegistration } from '../../storage/store.ts'
import type { InboundMessage } from '../message.ts'

/** What a set-device-info registers: the device's fields, or null to remove the client's devices of that kind. */
export type DeviceFields = Pick<PushRegistration, 'token' | 'platform' | 'keys'>

/**
 * One push protocol's names and bodies: FCM and APNs (Aries RFC 0734 and 0699) and Web Push share a
 * flow (set-device-info, get-device-info → device-info) and differ in what a device is.
 */
export interface PushVocabulary {
  protocol: string
  kind: PushKind
  /** The device set-device-info names, or null to remove; throws a ProblemReportError for bad input. */
  parseSet(inbound: InboundMessage): DeviceFields | null
  /** device-info's body for the client's devices of this kind, oldest first. */
  describe(devices: readonly PushRegistration[]): Record<string, unknown>
}

/** FCM tokens run to ~200 characters and APNs tokens are 64 hex digits: 4 KiB is room for any, and a bound. */
export const DEVICE_TOKEN_MAX = 4096

export const deviceToken = z.string().min(1).max(DEVICE_TOKEN_MAX).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
