import { mediationHandlers, mediationProtocols } from './coordinate-mediation/handler.ts'
import type { MediationComponents } from './coordinate-mediation/handler.ts'
import { DISCOVER_FEATURES_PROTOCOL, discoverFeaturesHandlers } from './discover-features/handler.ts'
import type { Feature } from './discover-features/handler.ts'
import type { Handler } from './message.ts'
import { quotedType } from './message.ts'
import { mixDirectoryHandlers } from './mix-directory/handler.ts'
import type { MixDirectoryComponents } from './mix-directory/handler.ts'
import { MIX_DIRECTORY_PROTOCOL } from './mix-directory/messages.ts'
import { pickupHandlers, pickupProtocols } from './pickup/handler.ts'
import type { PickupComponents } from './pickup/handler.ts'
import { PROBLEM } from './problem-report/codes.ts'
import { ProblemReportError } from './problem-report/error.ts'
import { problemReportHandlersByType } from './problem-report/handler.ts'
import { PROBLEM_REPORT_PROTOCOL } from './problem-report/messages.ts'
import { pushHandlers, pushProtocols } from './push-notifications/handler.ts'
import type { PushComponents } from './push-notifications/handler.ts'
import { routingHandlers } from './routing/handler.ts'
import type { RoutingComponents } from './routing/handler.ts'
import { ROUTING_PROTOCOL } from './routing/messages.ts'
import { TRUST_PING_PROTOCOL, trustPingHandlersByType } from './trust-ping/handler.ts'

/** Everything any protocol needs; each takes only its own part of it. */
export type DispatcherComponents = RoutingComponents & MediationComponents & PickupComponents & PushComponents & MixDirectoryComponents

/** What this node discloses: the protocols it implements, with its role in each, and its size limit. */
function features (components: DispatcherComponents): Feature[] {
  return [
    { 'feature-type': 'protocol', id: ROUTING_PROTOCOL, roles: ['mediator'] },
    ...mediationProtocols.map(id => ({ 'feature-type': 'protocol' as const, id, roles: ['mediator'] })),
    ...pickupProtocols.map(id => ({ 'feature-type': 'protocol' as const, id, roles: ['mediator'] })),
    ...pushProtocols(components).map(id => ({ 'feature-type': 'protocol' as const, id, roles: ['notification-sender'] })),
    { 'feature-type': 'protocol', id: TRUST_PING_PROTOCOL, roles: ['receiver'] },
    { 'feature-type': 'protocol', id: DISCOVER_FEATURES_PROTOCOL, roles: ['responder'] },
    { 'feature-type': 'protocol', id: MIX_DIRECTORY_PROTOCOL, roles: ['responder'] },
    { 'feature-type': 'protocol', id: PROBLEM_REPORT_PROTOCOL },
    { 'feature-type': 'constraint', id: 'max_receive_bytes', value: components.maxMessageBytes }
  ]
}

/** Binds every protocol's handlers to its components once; per message, only the message context varies. */
export function createDispatcher (components: DispatcherComponents): Handler {
  const disclosed = features(components)
  // A Map, not an object: a type such as `constructor` must not find an inherited property.
  const handlers = new Map<string, Handler>(Object.entries({
    ...routingHandlers(components),
    ...mediationHandlers(components),
    ...pickupHandlers(components),
    ...pushHandlers(components),
    ...mixDirectoryHandlers(components),
    ...trustPingHandlersByType,
    ...problemReportHandlersByType,
    ...discoverFeaturesHandlers(() => disclosed)
  }))
  return async (inbound, ctx) => {
    const handler = handlers.get(inbound.message.type)
    if (handler === undefined) {
      throw new ProblemReportError(PROBLEM.unsupported, `message type not supported: ${quotedType(inbound.message)}`)
    }
    return await handler(inbound, ctx)
  }
}
