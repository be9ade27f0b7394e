import { didKeyFromX25519, jwkToPublicKey } from '../../didcomm/multikey.ts'
import type { Handler, HandlerContext } from '../types.ts'
import { parseBody, replyTo, requireMediation, requireSender } from '../types.ts'
import { MEDIATION_V2, MEDIATION_V3, queryBody, updateBody } from './messages.ts'
import type { MediationVocabulary } from './messages.ts'

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
async function aliasesOf (recipient: string, ctx: HandlerContext): Promise<string[] | undefined> {
  if (ctx.ownDids.has(recipient) || PEER4_SHORT.test(recipient)) return undefined
  const doc = await ctx.resolver.resolve(recipient).catch(() => null)
  if (doc === null) return undefined
  if (doc.service.some(s => DIRECT_ENDPOINT.test(s.serviceEndpoint.uri) && s.serviceEndpoint.routing_keys.length === 0)) return undefined
  const keyAgreement = new Set(doc.keyAgreement)
  return doc.verificationMethod
    .filter(vm => keyAgreement.has(vm.id) && vm.publicKeyJwk.crv === 'X25519')
    .map(vm => didKeyFromX25519(jwkToPublicKey(vm.publicKeyJwk).publicKey))
    .concat(doc.alsoKnownAs ?? [])
    .filter(alias => alias !== recipient)
}

function mediationHandlers (v: MediationVocabulary): Record<string, Handler> {
  return {
    [`${v.protocol}/mediate-request`]: async (inbound, ctx) => {
      const client = requireSender(inbound)
      if (await ctx.mediations.get(client) === undefined) {
        // Full, or the DID held as a recipient here, before policy, so a refusal does not use up the client's invitation.
        const refused = await ctx.mediations.count() >= ctx.limits.maxMediations || await ctx.mediations.findRecipient(client) !== undefined
        // An invitation is referred to the standard way: pthid = the out-of-band invitation's id.
        if (refused || await ctx.mediationPolicy.admit(client, inbound.message.pthid) !== 'admitted') {
          return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-deny`, {})] }
        }
      }
      if (await ctx.mediations.grant(client) === undefined) {
        // The DID became a recipient meanwhile: as a client it would read that recipient's mailbox.
        return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-deny`, {})] }
      }
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-grant`, { routing_did: v.routingDid(ctx.nodeDid) })] }
    },

    [`${v.protocol}/${v.update}`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, ctx)
      const { updates } = parseBody(updateBody, inbound)
      const updated = []
      for (const { recipient_did: recipientDid, action } of updates) {
        let result
        if (action === 'remove') {
          result = await ctx.mediations.removeRecipient(client, recipientDid)
        } else {
          const aliases = await aliasesOf(recipientDid, ctx)
          result = aliases === undefined ? 'client_error' : await ctx.mediations.addRecipient(client, recipientDid, aliases, ctx.limits.maxRecipientsPerClient)
        }
        updated.push({ recipient_did: recipientDid, action, result })
      }
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/${v.updateResponse}`, { updated })] }
    },

    [`${v.protocol}/${v.query}`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, ctx)
      const { paginate } = parseBody(queryBody, inbound)
      const all = await ctx.mediations.recipients(client)
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
export const mediationHandlersByType: Record<string, Handler> = { ...mediationHandlers(MEDIATION_V2), ...mediationHandlers(MEDIATION_V3) }
