import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { LiveDelivery } from '../protocols/pickup/live.ts'
import { nodeSecret } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import type { Mailbox } from '../storage/store.ts'
import { DID_LIMITS } from '../didcomm/resolver.ts'
import type { Mediations } from '../storage/store.ts'
import { BackupRefusedError } from './backup.ts'

/** The admin API's path prefix. */
export const ADMIN_PATH = '/admin'
const LIST_DEFAULT = 1000
const LIST_MAX = 10_000

/** One mediated client as `GET /admin/clients` lists it. */
export interface ClientSummary {
  did: string
  /** ISO 8601 */
  grantedAt: string
  recipients: number
}

/**
 * The admin API's bearer token: derived from the node's keys, so whoever can read the data dir (and
 * only they) can compute it, and the CLI needs no token stored anywhere.
 */
export function adminToken (keys: Pick<NodeKeys, 'keyAgreement'>): string {
  return nodeSecret(keys, 'admin').toString('base64url')
}

/** Constant-time, whatever the lengths: compares digests. */
export function sameToken (given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export interface AdminComponents {
  mediations: Mediations
  mailbox: Mailbox
  live: LiveDelivery
  logger: Logger
  /** Writes a backup of the node into a directory on its host (node/backup.ts); undefined when its store is PostgreSQL's. */
  backup: ((directory: string) => Promise<{ directory: string, records: number }>) | undefined
}

/** One field of a JSON request body; a string saying what is wrong when the body is not JSON. */
function bodyField (body: unknown, name: string): { value: unknown } | { error: string } {
  try {
    return { value: (JSON.parse(String(body)) as Record<string, unknown>)[name] }
  } catch {
    return { error: `the body must be JSON: {"${name}": …}` }
  }
}

/**
 * Operator commands against the running node (which holds the store): list the mediated clients,
 * revoke one, taking its recipients, its queued messages and its live sessions with it, and back the
 * node up while it runs.
 */
export async function registerAdmin (app: FastifyInstance, token: string, components: AdminComponents): Promise<void> {
  const { mediations, mailbox, live, logger, backup } = components
  await app.register(async admin => {
    admin.addHook('onRequest', async (request, reply) => {
      const [scheme, given] = (request.headers.authorization ?? '').split(' ')
      if (scheme === 'Bearer' && given !== undefined && sameToken(given, token)) return
      return await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'admin token missing or wrong' })
    })

    admin.get('/clients', async (request, reply) => {
      const limit = Number((request.query as { limit?: string }).limit ?? LIST_DEFAULT)
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) return await reply.code(400).send({ error: `limit must be 1 to ${LIST_MAX}` })
      const records = await mediations.clients(limit + 1)
      const clients: ClientSummary[] = await Promise.all(records.slice(0, limit).map(async r => ({
        did: r.client,
        grantedAt: new Date(r.grantedAt).toISOString(),
        recipients: (await mediations.recipients(r.client)).length
      })))
      return { clients, truncated: records.length > limit }
    })

    admin.post('/clients/revoke', async (request, reply) => {
      const field = bodyField(request.body, 'did')
      if ('error' in field) return await reply.code(400).send({ error: field.error })
      const did = field.value
      if (typeof did !== 'string' || !did.startsWith('did:') || did.length > DID_LIMITS.maxLength) return await reply.code(400).send({ error: 'body.did must be a DID' })
      // The mailboxes before the revoke: it takes the recipients that name them.
      const boxes = await mediations.mailboxDids(did)
      const recipients = await mediations.revoke(did)
      if (recipients === undefined) return await reply.code(404).send({ error: 'no mediation for this DID' })
      const messages = await mailbox.purge(boxes)
      live.drop(did)
      logger.info({ client: did, recipients: recipients.length, messages }, 'mediation revoked')
      return { did, recipients: recipients.length, messages }
    })

    admin.post('/backup', async (request, reply) => {
      if (backup === undefined) return await reply.code(409).send({ error: 'this node keeps its store in PostgreSQL: back the database up with pg_dump (docs/operating.md)' })
      const field = bodyField(request.body, 'directory')
      if ('error' in field) return await reply.code(400).send({ error: field.error })
      if (typeof field.value !== 'string' || field.value === '') return await reply.code(400).send({ error: 'body.directory must be a path' })
      try {
        const made = await backup(field.value)
        logger.info(made, 'backup written')
        return made
      } catch (err) {
        if (err instanceof BackupRefusedError) return await reply.code(400).send({ error: err.message })
        throw err
      }
    })
  }, { prefix: ADMIN_PATH })
}
