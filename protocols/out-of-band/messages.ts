import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { PlainMessage } from '../../didcomm/envelope.ts'

export const OUT_OF_BAND_PROTOCOL = 'https://didcomm.org/out-of-band/2.0'
export const INVITATION = `${OUT_OF_BAND_PROTOCOL}/invitation`

export interface Invitation { invitation: PlainMessage, url: string }

/** An out-of-band invitation from `from`, and its `?_oob=` URL form on `baseUrl`. */
export function invitation (from: string, baseUrl: string, body: { goal_code: string, goal: string, label?: string }, headers: { id?: string, expires_time?: number } = {}): Invitation {
  const message: PlainMessage = {
    id: headers.id ?? randomUUID(),
    type: INVITATION,
    from,
    body: { ...body, accept: ['didcomm/v2'] },
    ...(headers.expires_time === undefined ? {} : { expires_time: headers.expires_time })
  }
  const url = new URL(baseUrl)
  url.searchParams.set('_oob', Buffer.from(JSON.stringify(message)).toString('base64url'))
  return { invitation: message, url: url.toString() }
}

/**
 * A node's invitation to request mediation from it, labelled with the node's name. `id` may be an
 * invitation token (a wallet names it as the pthid of its mediate-request), valid until `expiresAt` (epoch ms).
 */
export function mediationInvitation (did: string, baseUrl: string, options: { id?: string, expiresAt?: number, label?: string } = {}): Invitation {
  return invitation(did, baseUrl, { goal_code: 'request-mediate', goal: 'Request mediation', label: options.label ?? 'didcomm-mesh node' }, {
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.expiresAt === undefined ? {} : { expires_time: Math.floor(options.expiresAt / 1000) })
  })
}

const invitationSchema = z.object({
  type: z.literal(INVITATION),
  id: z.string(),
  from: z.string().startsWith('did:'),
  body: z.object({ goal_code: z.string().optional() }).loose()
}).loose()

export class InvitationError extends Error {
  override name = 'InvitationError'
}

function checked (json: unknown): PlainMessage {
  const parsed = invitationSchema.safeParse(json)
  if (!parsed.success) throw new InvitationError(`not an out-of-band 2.0 invitation: ${parsed.error.issues[0]?.message ?? ''}`)
  return parsed.data as PlainMessage
}

/** Reads an invitation from its URL or its JSON: the message, or `{ invitation, url }` as `didcomm-mesh invite --json` prints it. */
export function parseInvitation (text: string): PlainMessage {
  if (!text.trimStart().startsWith('{')) return parseInvitationUrl(text)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new InvitationError('the invitation is not valid JSON')
  }
  const wrapped = (json as { invitation?: unknown }).invitation
  return checked(typeof wrapped === 'object' && wrapped !== null ? wrapped : json)
}

/** Reads an invitation from its URL (`_oob` or `oob` parameter, base64url or base64). */
export function parseInvitationUrl (text: string): PlainMessage {
  let encoded: string | null
  try {
    const url = new URL(text)
    encoded = url.searchParams.get('_oob') ?? url.searchParams.get('oob')
  } catch {
    throw new InvitationError('not a URL')
  }
  if (encoded === null) throw new InvitationError('the URL has no _oob parameter')
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'))
  } catch {
    throw new InvitationError('the _oob parameter is not base64url-encoded JSON')
  }
  return checked(json)
}
