import { didOf } from '../../didcomm/resolver.ts'
import { MailboxFullError } from '../../storage/store.ts'
import type { Mailbox } from '../../storage/store.ts'
import type { Mediations } from '../../storage/store.ts'
import type { Handler, InboundMessage, Session } from '../message.ts'
import { parseBody } from '../message.ts'
import type { LiveDelivery } from '../pickup/live.ts'
import { PROBLEM } from '../problem-report/codes.ts'
import { ProblemReportError } from '../problem-report/error.ts'
import { FORWARD, forwardBody, forwardedMessage } from './messages.ts'

/** Passing a forward on to another mediator (the mesh, or a standard mediator over HTTP). */
export interface Onward {
  /** Relay for anyone, not only this node's clients and mesh peers. */
  readonly open: boolean
  /**
   * How this node would reach the mediator `did`, from its DID document: a mesh peer, an HTTP
   * endpoint, `refused` (an HTTP endpoint it may not reach), or undefined (not a mediator it can reach).
   */
  destination(did: string): Promise<'libp2p' | 'http' | 'refused' | undefined>
  /**
   * Durably queues `message` for the mediator `next`; resolves once it is on disk. `sender` is who it
   * counts against in the quotas (a client DID or a peer ID); `origin` is the client told if it fails.
   * Throws a ProblemReportError when a quota is full.
   */
  enqueue(next: string, message: string, meta: { sender: string, expiresAt?: number, origin?: string, thid?: string }): Promise<void>
}

export interface RoutingComponents {
  mailbox: Pick<Mailbox, 'add'>
  mediations: Pick<Mediations, 'get' | 'findRecipient'>
  /** Told of each message queued, to push it to a client in live mode. */
  live: Pick<LiveDelivery, 'queued'>
  onward: Onward
  /** Every DID this node answers to (current and earlier). */
  ownDids: () => readonly string[]
  maxMessageBytes: number
}

/** Who may relay through this node, to where, and whose quota the message counts against. */
type RelayPolicy = { allowed: false } | { allowed: true, meshOnly: boolean, sender: string, client?: string }

/**
 * Who may use this node as a relay to another mediator: its own clients (a DID holding mediation, or
 * one in a client's keylist), or anyone on an open relay, to any mediator; a mesh peer over libp2p
 * (a later hop of a multi-hop path), only to other mesh peers: an anonymous peer must not make this
 * node POST to HTTP endpoints. Decided before any resolution, so refusals cost nothing.
 */
async function relayPolicy (inbound: InboundMessage, session: Session, { mediations, onward }: Pick<RoutingComponents, 'mediations' | 'onward'>): Promise<RelayPolicy> {
  const sender = inbound.sender
  if (sender !== undefined) {
    if (await mediations.get(sender) !== undefined) return { allowed: true, meshOnly: false, sender, client: sender }
    const holder = await mediations.findRecipient(sender)
    if (holder !== undefined) return { allowed: true, meshOnly: false, sender: holder.client, client: holder.client }
  }
  // Peer IDs cost nothing to make: a relaying peer's quota is its address's.
  const peer = session.host ?? session.peer
  if (onward.open) return { allowed: true, meshOnly: false, sender: sender ?? peer ?? 'anonymous' }
  if (peer !== undefined) return { allowed: true, meshOnly: true, sender: peer }
  return { allowed: false }
}

const notAllowed = (): ProblemReportError =>
  new ProblemReportError(PROBLEM.relayNotAllowed, 'this node relays to other mediators only for its own clients, and to mesh peers for mesh peers')

/**
 * A forward addressed to this node: the next layer is for one of our own DIDs (unwrap it here), for
 * a recipient in a keylist (queue it), or for another mediator (relay it through the outbox).
 * Anything else is refused and nothing is stored. `please_ack` is ignored, as mediators should.
 */
export function routingHandlers (components: RoutingComponents): Record<string, Handler> {
  const { mailbox, mediations, live, onward, ownDids, maxMessageBytes } = components
  return {
    [FORWARD]: async (inbound, ctx) => {
      const { next } = parseBody(forwardBody, inbound)
      const expires = inbound.message.expires_time
      if (typeof expires === 'number' && expires * 1000 < Date.now()) {
        throw new ProblemReportError(PROBLEM.expired, 'forward expired before it arrived')
      }
      const packed = forwardedMessage(inbound.message)
      if (Buffer.byteLength(packed) > maxMessageBytes) {
        throw new ProblemReportError(PROBLEM.tooBig, `forwarded message exceeds ${maxMessageBytes} bytes`)
      }
      const nextDid = didOf(next)
      if (ownDids().includes(nextDid)) {
        await ctx.receive(packed)
        return {}
      }
      const holder = await mediations.findRecipient(nextDid)
      if (holder === undefined) {
        const relay = await relayPolicy(inbound, ctx.session, components)
        if (!relay.allowed) throw notAllowed()
        const destination = await onward.destination(nextDid)
        if (destination === undefined) {
          throw new ProblemReportError(PROBLEM.unknownRecipient, 'no mediation here for the next DID, and it is not a mediator this node can reach')
        }
        if (destination === 'refused') throw new ProblemReportError(PROBLEM.destinationNotAllowed, 'this node does not relay to that destination')
        if (destination === 'http' && relay.meshOnly) throw notAllowed()
        await onward.enqueue(nextDid, packed, {
          sender: relay.sender,
          expiresAt: typeof expires === 'number' ? expires * 1000 : undefined,
          origin: relay.client,
          thid: inbound.message.id
        })
        return {}
      }
      try {
        await mailbox.add(holder.recipient, packed)
      } catch (err) {
        if (err instanceof MailboxFullError) throw new ProblemReportError(PROBLEM.storageFull, `recipient's ${err.message}`)
        throw err
      }
      live.queued(holder.client, holder.recipient)
      return {}
    }
  }
}
