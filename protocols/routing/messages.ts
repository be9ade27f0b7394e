import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { AttachmentError, attachedMessage } from '../../didcomm/envelope.ts'
import type { PlainMessage } from '../../didcomm/envelope.ts'
import { isJweJson, parseJson } from '../../didcomm/jose.ts'
import { DID_LIMITS } from '../../didcomm/resolver.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import { PROBLEM } from '../problem-report/codes.ts'

export const ROUTING_PROTOCOL = 'https://didcomm.org/routing/2.0'
export const FORWARD = `${ROUTING_PROTOCOL}/forward`

export const forwardBody = z.object({ next: z.string().min(1).max(DID_LIMITS.maxLength) })

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
 * The forwarded message as the packed string to store or pass on. Only a JWE is stored or relayed:
 * a node must not carry (or POST onward) arbitrary text under the name of a forward.
 */
export function forwardedMessage (message: PlainMessage): string {
  let packed: string
  try {
    packed = attachedMessage(message.attachments?.[0])
  } catch (err) {
    if (err instanceof AttachmentError) throw new ProblemReportError(PROBLEM.malformed, `forward: ${err.message}`)
    throw err
  }
  if (!isJweJson(parseJson(packed))) throw new ProblemReportError(PROBLEM.malformed, 'forward: the attached message is not a JWE')
  return packed
}
