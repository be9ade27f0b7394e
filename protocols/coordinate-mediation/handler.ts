import { didKeyFromX25519, jwkToPublicKey } from '../../didcomm/multikey.ts'
import type { Handler, HandlerContext } from '../types.ts'
import { parseBody, replyTo, requireMediation, requireSender } from '../types.ts'
import { MEDIATION_V2, MEDIATION_V3, queryBody, updateBody } from './messages.ts'
import type { MediationVocabulary } from './messages.ts'

const DEFAULT_PAGE = 100

/**
 * The did:key forms of a recipient's keyAgreement keys, and its other forms (a long-form did:peer:4's
 * short form, via alsoKnownAs): some senders name those as `next`.
 */
async function aliasesOf (recipient: string, ctx: HandlerContext): Promise<string[]> {
  const doc = await ctx.resolver.resolve(recipient).catch(() => null)
  if (doc === null) return []
  return doc.verificationMethod
    .filter(vm => doc.keyAgreement.includes(vm.id) && vm.publicKeyJwk.crv === 'X25519')
    .map(vm => didKeyFromX25519(jwkToPublicKey(vm.publicKeyJwk).publicKey))
    .concat(doc.alsoKnownAs ?? [])
    .filter(alias => alias !== recipient)
}

function mediationHandlers (v: MediationVocabulary): Record<string, Handler> {
  return {
    [`${v.protocol}/mediate-request`]: async (inbound, ctx) => {
      const client = requireSender(inbound)
      if (await ctx.mediations.get(client) === undefined) {
        // Full before policy, so a full node does not use up the client's invitation.
        const full = await ctx.mediations.count() >= ctx.limits.maxMediations
        // An invitation is referred to the standard way: pthid = the out-of-band invitation's id.
        if (full || await ctx.mediationPolicy.admit(client, inbound.message.pthid) !== 'admitted') {
          return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-deny`, {})] }
        }
      }
      await ctx.mediations.grant(client)
      return { replies: [replyTo(inbound, ctx, `${v.protocol}/mediate-grant`, { routing_did: v.routingDid(ctx.nodeDid) })] }
    },

    [`${v.protocol}/${v.update}`]: async (inbound, ctx) => {
      const client = await requireMediation(inbound, ctx)
      const { updates } = parseBody(updateBody, inbound)
      let held = (await ctx.mediations.recipients(client)).length
      const updated = []
      for (const { recipient_did: recipientDid, action } of updates) {
        let result
        if (action === 'remove') {
          result = await ctx.mediations.removeRecipient(client, recipientDid)
          if (result === 'success') held--
        } else if (held >= ctx.limits.maxRecipientsPerClient) {
          result = 'client_error'
        } else {
          result = await ctx.mediations.addRecipient(client, recipientDid, await aliasesOf(recipientDid, ctx))
          if (result === 'success') held++
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
