import { z } from 'zod'
import { DID_LIMITS } from '../../didcomm/resolver.ts'

/** Coordinate Mediation 2.0 and 3.0 differ only in names and in `routing_did` being a string or an array. */
export interface MediationVocabulary {
  protocol: string
  update: string
  updateResponse: string
  query: string
  list: string
  /** The field of `list` holding `[{ recipient_did }]`. */
  listField: 'keys' | 'dids'
  routingDid: (did: string) => string | string[]
}

export const MEDIATION_V2: MediationVocabulary = {
  protocol: 'https://didcomm.org/coordinate-mediation/2.0',
  update: 'keylist-update',
  updateResponse: 'keylist-update-response',
  query: 'keylist-query',
  list: 'keylist',
  listField: 'keys',
  // Identus reads a string.
  routingDid: did => did
}

export const MEDIATION_V3: MediationVocabulary = {
  protocol: 'https://didcomm.org/coordinate-mediation/3.0',
  update: 'recipient-update',
  updateResponse: 'recipient-update-response',
  query: 'recipient-query',
  list: 'recipient',
  listField: 'dids',
  // The DIF demo reads routing_did[0].
  routingDid: did => [did]
}

const update = z.object({
  // Some clients still say recipient_key.
  recipient_did: z.string().min(1).max(DID_LIMITS.maxLength).optional(),
  recipient_key: z.string().min(1).max(DID_LIMITS.maxLength).optional(),
  action: z.enum(['add', 'remove'])
}).refine(u => u.recipient_did !== undefined || u.recipient_key !== undefined, { message: 'recipient_did is required' })
  .transform(u => ({ recipient_did: (u.recipient_did ?? u.recipient_key) as string, action: u.action }))

export const updateBody = z.object({ updates: z.array(update).max(1000) })

export const queryBody = z.object({
  paginate: z.object({
    limit: z.number().int().min(1).optional(),
    offset: z.number().int().min(0).optional()
  }).optional()
})
