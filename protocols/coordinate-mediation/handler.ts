import { didKeyFromX25519, jwkToPublicKey } from '../../didcomm/multikey.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import type { Mediations } from '../../storage/store.ts'
import type { Handler, InboundMessage } from '../message.ts'
import { parseBody, replyTo, requireSender } from '../message.ts'
import { PROBLEM } from '../problem-report/codes.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import { MEDIATION_V2, MEDIATION_V3, queryBody, updateBody } from './messages.ts'
import type { MediationVocabulary } from './messages.ts'
import type { MediationPolicy } from './policy.ts'

export interface MediationComponents {
  mediations: Pick<Mediations, 'get' | 'grant' | 'count' | 'findRecipient' | 'addRecipient' | 'removeRecipient' | 'recipients'>
  /** Who may get a new mediation (open, invite or closed). */
  mediationPolicy: MediationPolicy
  resolver: DIDResolver
  /** Every DID this node answers to (current and earlier). */
  ownDids: () => readonly string[]
  maxMediations: number
  maxRecipientsPerClient: number
}

const DEFAULT_PAGE = 100

const PEER4_SHORT = /^did:peer:4z[1-9A-HJ-NP-Za-km-z]+$/
/** A service endpoint a DID receives at directly (with no routing keys): a mediator's or an agent's own. */
const DIRECT_ENDPOINT = /^(?:https?|wss?):\/\/|^libp2p-peerId:/

/**
 * The names a recipient is reached by besides itself: the did:key forms of its keyAgreement keys and
 * its other forms (a long-form did:peer:4's short form, via alsoKnownAs); some senders name those as
 * `next`. Undefined when the DID may not be a recipient here: unresolvable (or past the resolver's
 * size and key limits), a bare did:peer:4 short form (anyone can name one; register the long form),
 * one of this node's DIDs, or a DID with an endpoint of its own (a mediator, here or elsewhere).
 */
async function aliasesOf (recipient: string, { ownDids, resolver }: Pick<MediationComponents, 'ownDids' | 'resolver'>): Promise<string[] | undefined> {
  if (ownDids().includes(recipient) || PEER4_SHORT.test(recipient)) return undefined
  const doc = await resolver.resolve(recipient).catch(() => null)
  if (doc === null) return undefined
  if (doc.service.some(s => DIRECT_ENDPOINT.test(s.serviceEndpoint.uri) && s.serviceEndpoint.routing_keys.length === 0)) return undefined
  const keyAgreement = new Set(doc.keyAgreement)
  return doc.verificationMethod
    .filter(vm => keyAgreement.has(vm.id) && vm.publicKeyJwk.crv === 'X25519')
    .map(vm => didKeyFromX25519(jwkToPublicKey(vm.publicKeyJwk).publicKey))
    .concat(doc.alsoKnownAs ?? [])
    .filter(alias => alias !== recipient)
}

/** The sender must hold a mediation here. */
export async function requireMediation (inbound: InboundMessage, mediations: Pick<Mediations, 'get'>): Promise<string> {
  const client = requireSender(inbound)
  if (await mediations.get(client) === undefined) {
    throw new ProblemReportError(PROBLEM.notEnrolled, 'no mediation granted to this DID: send a mediate-request first')
  }
  return client
}

function versionHandlers (v: MediationVocabulary, components: MediationComponents): Record<string, Handler> {
  const { mediations, mediationPolicy, maxMediations, maxRecipientsPerClient } = components
  return {
    [`${v.protocol}/mediate-request`]: async (inbound, ctx) => {
      const client = requireSender(inbound)
      if (await mediations.get(client) === undefined) {
        // Full, or the DID held as a recipient here, before policy, so a refusal does not use up the client's invitation.
        const refused = await mediations.count() >= maxMediations || await mediations.findRecipient(client) !== undefined
        // An invitation is referred to the standard way: pthid = the out-of-band invitation's id.
        if (refused || await mediationPolicy.admit(client, inbound.message.pthid) !== 'admitted') {
          return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-deny`, {})] }
        }
      }
      if (await mediations.grant(client) === undefined) {
        // The DID became a recipient meanwhile: as a client it would read that recipient's mailbox.
        return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-deny`, {})] }
      }
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-grant`, { routing_did: v.routingDid(ctx.nodeDid) })] }
    },

    [`${v.protocol}/${v.update}`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { updates } = parseBody(updateBody, inbound)
      const updated = []
      for (const { recipient_did: recipientDid, action } of updates) {
        let result
        if (action === 'remove') {
          result = await mediations.removeRecipient(client, recipientDid)
        } else {
          const aliases = await aliasesOf(recipientDid, components)
          result = aliases === undefined ? 'client_error' : await mediations.addRecipient(client, recipientDid, aliases, maxRecipientsPerClient)
        }
        updated.push({ recipient_did: recipientDid, action, result })
      }
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/${v.updateResponse}`, { updated })] }
    },

    [`${v.protocol}/${v.query}`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, mediations)
      const { paginate } = parseBody(queryBody, inbound)
      const all = await mediations.recipients(client)
      const offset = paginate?.offset ?? 0
      const page = all.slice(offset, offset + (paginate?.limit ?? DEFAULT_PAGE))
      return {
        replies: [replyTo(inbound, ctx, `${v.protocol}/${v.list}`, {
          [v.listField]: page.map(did => ({ recipient_did: did })),
          pagination: { count: page.length, offset, remaining: Math.max(0, all.length - offset - page.length) }
        })]
      }
    }
  }
}

export const mediationProtocols = [MEDIATION_V2.protocol, MEDIATION_V3.protocol]
export function mediationHandlers (components: MediationComponents): Record<string, Handler> {
  return { ...versionHandlers(MEDIATION_V2, components), ...versionHandlers(MEDIATION_V3, components) }
}
