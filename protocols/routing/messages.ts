import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { fromString, toString } from 'uint8arrays'
import type { Attachment, PlainMessage } from '../../didcomm/envelope.ts'
import { ProblemReportError } from '../types.ts'

export const ROUTING_PROTOCOL = 'https://didcomm.org/routing/2.0'
export const FORWARD = `${ROUTING_PROTOCOL}/forward`

export const forwardBody = z.object({ next: z.string().min(1) })

/** A forward asking `mediator` to pass `packed` on to `next`; pack it for the mediator. */
export function forwardMessage (next: string, packed: string, init: { mediator: string, from?: string }): PlainMessage {
  return {
    id: randomUUID(),
    type: FORWARD,
    to: [init.mediator],
    ...(init.from === undefined ? {} : { from: init.from }),
    created_time: Math.floor(Date.now() / 1000),
    body: { next },
    attachments: [{ data: { json: JSON.parse(packed) as unknown } }]
  }
}

/**
 * The forwarded message as the packed string to store or pass on. Senders put it in `data.json`
 * (didcomm-rust, Identus) or `data.base64`; both are accepted.
 */
export function forwardedMessage (message: PlainMessage): string {
  const data = (message.attachments?.[0] as Attachment | undefined)?.data
  if (data?.json !== undefined && data.json !== null) return JSON.stringify(data.json)
  const encoded = data?.base64 ?? data?.base64url
  if (typeof encoded === 'string') {
    try {
      return toString(fromString(encoded.replace(/=+$/, ''), data?.base64 !== undefined ? 'base64' : 'base64url'))
    } catch {
      throw new ProblemReportError('e.p.msg.malformed', 'forward attachment is not valid base64')
    }
  }
  throw new ProblemReportError('e.p.msg.malformed', 'forward has no attached message (attachments[0].data.json or .base64)')
}
