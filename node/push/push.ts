import type { Logger } from 'pino'
import type { Config } from '../../config/schema.ts'
import type { Mailbox, Mediations, PushDevices, PushRegistration } from '../../storage/store.ts'
import type { NodeMetrics } from '../metrics.ts'
import { pushEndpointAllowed } from './endpoints.ts'
import { gatewaySender } from './gateway.ts'
import { createPushNotifier } from './notifier.ts'
import type { PushNotifier } from './notifier.ts'
import { vapidKeys } from './vapid.ts'
import { webPushSender } from './webpush.ts'
import type { PushOutcome } from './wire.ts'

/** Time allowed to reach a push service or the gateway and get its answer. */
const PUSH_TIMEOUT_MS = 10_000

export interface NodePush extends PushNotifier {
  vapidPublicKey: string
  endpointAllowed(endpoint: string): boolean
  /** Whether FCM and APNs devices can be woken (a gateway is configured). */
  gateway: boolean
}

export interface NodePushComponents {
  devices: Pick<PushDevices, 'list' | 'remove'>
  live: (client: string) => boolean
  mailbox: Pick<Mailbox, 'status'>
  mediations: Pick<Mediations, 'mailboxDids'>
  /** nodeSecret(keys, 'vapid'): the VAPID key pair is derived from it. */
  vapidSecret: Buffer
  logger: Logger
  metrics?: NodeMetrics
}

/** Push as the node's config sets it up: Web Push with the node's VAPID key, FCM and APNs through the gateway. */
export function createNodePush (config: Config, components: NodePushComponents): NodePush {
  const vapid = vapidKeys(components.vapidSecret)
  const policy = { hosts: config.pushHosts, privateDestinations: config.pushPrivateDestinations }
  const webPush = webPushSender({
    vapid,
    subject: config.pushVapidSubject ?? (config.publicUrl?.startsWith('https:') === true ? config.publicUrl : 'mailto:postmaster@localhost'),
    policy,
    timeoutMs: PUSH_TIMEOUT_MS,
    // A wake-up is worth delivering as long as the messages it tells of may wait.
    ttlSeconds: config.messageLifetimeSeconds
  })
  const gateway = config.pushGatewayUrl === undefined ? undefined : gatewaySender(config.pushGatewayUrl, PUSH_TIMEOUT_MS)
  const send = async (device: PushRegistration): Promise<PushOutcome> =>
    device.kind === 'webpush' ? await webPush(device) : gateway === undefined ? 'not-allowed' : await gateway(device)
  const waiting = async (client: string): Promise<boolean> => {
    for (const did of await components.mediations.mailboxDids(client)) if ((await components.mailbox.status(did)).count > 0) return true
    return false
  }
  const notifier = createPushNotifier({ ...components, send, waiting }, {
    intervalMs: config.pushIntervalSeconds * 1000,
    maxAttempts: config.pushMaxAttempts,
    queueMax: config.pushQueueMax
  })
  return {
    ...notifier,
    vapidPublicKey: vapid.publicKey,
    endpointAllowed: endpoint => pushEndpointAllowed(endpoint, policy),
    gateway: gateway !== undefined
  }
}
