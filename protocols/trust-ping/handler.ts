import { z } from 'zod'
import type { Handler } from '../message.ts'
import { parseBody, replyTo } from '../message.ts'

export const TRUST_PING_PROTOCOL = 'https://didcomm.org/trust-ping/2.0'

const pingBody = z.object({ response_requested: z.boolean().optional() })

/** Answers a ping; an anonymous one cannot be answered, there is no one to encrypt to. */
export const trustPingHandlersByType: Record<string, Handler> = {
  [`${TRUST_PING_PROTOCOL}/ping`]: async (inbound, ctx) => {
    const { response_requested: wanted = true } = parseBody(pingBody, inbound)
    if (!wanted || inbound.sender === undefined) return {}
    return { replies: [replyTo(inbound, ctx, `${TRUST_PING_PROTOCOL}/ping-response`, {})] }
  },
  [`${TRUST_PING_PROTOCOL}/ping-response`]: async () => ({})
}
