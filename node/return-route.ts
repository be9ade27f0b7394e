/**
 * `return_route: "none"`: the sender wants no reply on the connection it used, so replies travel as
 * any message to it would. A client of this node (a DID holding mediation, or one in a client's
 * keylist) finds them in its mailbox here (pushed if it is live). Anyone else, only on an open relay
 * (a DID costs nothing to make: on a closed node, strangers would have it post replies to any
 * public URL and fill its outbox), gets them at the
 * endpoint its DID document names, through the outbox and the relay's destination rules: a DID whose
 * service is a mediator DID gets them wrapped in a forward for that mediator. The way is chosen
 * before the request is handled, so a reply with nowhere to go refuses the request rather than being
 * lost after the request took effect.
 */
import type { Envelope, PlainMessage } from '../didcomm/envelope.ts'
import type { DIDResolver } from '../didcomm/resolver.ts'
import { didOf } from '../didcomm/resolver.ts'
import type { LiveDelivery } from '../protocols/pickup/live.ts'
import { PROBLEM } from '../protocols/problem-report/codes.ts'
import { ProblemReportError } from '../protocols/problem-report/error.ts'
import type { Onward } from '../protocols/routing/handler.ts'
import { MailboxFullError } from '../storage/store.ts'
import type { Mailbox, Mediations } from '../storage/store.ts'

export interface ReturnRouteComponents {
  mediations: Pick<Mediations, 'get' | 'findRecipient'>
  mailbox: Pick<Mailbox, 'add'>
  live: Pick<LiveDelivery, 'queued'>
  onward: Pick<Onward, 'open' | 'destination' | 'enqueue'>
  resolver: DIDResolver
  envelope: Pick<Envelope, 'pack'>
  /** Every DID this node answers to. */
  ownDids: () => readonly string[]
}

/** Where the replies to one request go; `from` is the node DID they come from. */
export interface ReplyRoute {
  send(replies: readonly PlainMessage[], from: string): Promise<void>
}

/**
 * The reply route to `sender`, or a ProblemReportError when this node cannot reach it. `dialect`:
 * the JWE dialect the request came in, which the replies use.
 */
export type ReturnRoutes = (sender: string, dialect?: 'legacy') => Promise<ReplyRoute>

export function createReturnRoutes (components: ReturnRouteComponents): ReturnRoutes {
  const { mediations, mailbox, live, onward, resolver, envelope } = components

  function toMailbox (sender: string, client: string, recipient: string, dialect: 'legacy' | undefined): ReplyRoute {
    return {
      async send (replies, from) {
        for (const reply of replies) {
          try {
            await mailbox.add(recipient, await envelope.pack(reply, sender, from, dialect === undefined ? {} : { dialect }))
          } catch (err) {
            if (err instanceof MailboxFullError) throw new ProblemReportError(PROBLEM.storageFull, `your ${err.message}`)
            throw err
          }
          live.queued(client, recipient)
        }
      }
    }
  }

  /** The hop the sender's first DIDComm service names: a mediator DID, or the sender itself (an endpoint URL). */
  async function nextHop (sender: string): Promise<string> {
    const uri = (await resolver.resolve(sender))?.service[0]?.serviceEndpoint.uri
    if (uri?.startsWith('did:') !== true) return sender
    const mediator = didOf(uri)
    // A DID routed through this node but in no keylist here: there is no one to queue for.
    if (components.ownDids().includes(mediator)) throw new ProblemReportError(PROBLEM.cantUseEndpoint, 'return_route none: your DID is routed through this node but holds no mediation here')
    return mediator
  }

  return async (sender, dialect) => {
    if (await mediations.get(sender) !== undefined) return toMailbox(sender, sender, sender, dialect)
    const holder = await mediations.findRecipient(sender)
    if (holder !== undefined) return toMailbox(sender, holder.client, holder.recipient, dialect)
    // Only the library wraps forwards and it does not speak the legacy dialect: such a client gets its replies here or on the connection.
    if (dialect !== undefined) throw new ProblemReportError(PROBLEM.cantUseEndpoint, 'return_route none: replies in the legacy JWE dialect go only to clients of this node; omit return_route to get them in the answer')
    if (!onward.open) throw new ProblemReportError(PROBLEM.cantUseEndpoint, 'return_route none: this node sends replies elsewhere only for its own clients; omit return_route to get them in the answer')
    const next = await nextHop(sender)
    const destination = await onward.destination(next)
    if (destination === 'refused') throw new ProblemReportError(PROBLEM.destinationNotAllowed, 'return_route none: this node does not send to the endpoint your DID names')
    if (destination === undefined) throw new ProblemReportError(PROBLEM.cantUseEndpoint, 'return_route none: your DID names no endpoint this node can send replies to; omit return_route to get them in the answer')
    return {
      async send (replies, from) {
        for (const reply of replies) {
          // The library wraps the reply in forwards when the sender's service names a mediator or routing keys.
          await onward.enqueue(next, await envelope.pack(reply, sender, from, { forward: true }), { sender })
        }
      }
    }
  }
}
