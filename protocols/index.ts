import { mediationHandlersByType, mediationProtocols } from './coordinate-mediation/handler.ts'
import { DISCOVER_FEATURES_PROTOCOL, discoverFeaturesHandlers } from './discover-features/handler.ts'
import type { Feature } from './discover-features/handler.ts'
import { pickupHandlersByType, pickupProtocols } from './pickup/handler.ts'
import { problemReportHandlersByType } from './problem-report/handler.ts'
import { PROBLEM_REPORT_PROTOCOL } from './problem-report/messages.ts'
import { handleForward } from './routing/handler.ts'
import { FORWARD, ROUTING_PROTOCOL } from './routing/messages.ts'
import { TRUST_PING_PROTOCOL, trustPingHandlersByType } from './trust-ping/handler.ts'
import type { Handler, HandlerContext, HandlerResult, InboundMessage } from './types.ts'
import { ProblemReportError, quotedType } from './types.ts'
import { PROBLEM } from './problem-report/codes.ts'

/** What this node discloses: the protocols it implements, with its role in each, and its size limit. */
function features (maxMessageBytes: number): Feature[] {
  return [
    { 'feature-type': 'protocol', id: ROUTING_PROTOCOL, roles: ['mediator'] },
    ...mediationProtocols.map(id => ({ 'feature-type': 'protocol' as const, id, roles: ['mediator'] })),
    ...pickupProtocols.map(id => ({ 'feature-type': 'protocol' as const, id, roles: ['mediator'] })),
    { 'feature-type': 'protocol', id: TRUST_PING_PROTOCOL, roles: ['receiver'] },
    { 'feature-type': 'protocol', id: DISCOVER_FEATURES_PROTOCOL, roles: ['responder'] },
    { 'feature-type': 'protocol', id: PROBLEM_REPORT_PROTOCOL },
    { 'feature-type': 'constraint', id: 'max_receive_bytes', value: maxMessageBytes }
  ]
}

export function createDispatcher (maxMessageBytes: number): (inbound: InboundMessage, ctx: HandlerContext) => Promise<HandlerResult> {
  const disclosed = features(maxMessageBytes)
  // A Map, not an object: a type such as `constructor` must not find an inherited property.
  const handlers = new Map<string, Handler>(Object.entries({
    [FORWARD]: handleForward,
    ...mediationHandlersByType,
    ...pickupHandlersByType,
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
