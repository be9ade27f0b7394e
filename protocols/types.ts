import { randomUUID } from 'node:crypto'
import type { z } from 'zod'
import type { PlainMessage } from '../didcomm/envelope.ts'
import type { DIDResolver } from '../didcomm/resolver.ts'
import type { Mailbox } from '../storage/mailbox.ts'
import type { Mediations } from '../storage/mediations.ts'
import type { MediationPolicy } from './coordinate-mediation/policy.ts'
import { PROBLEM } from './problem-report/codes.ts'
import type { ProblemCode } from './problem-report/codes.ts'

/** A decrypted message and who provably sent it. */
export interface InboundMessage {
  message: PlainMessage
  /** The authenticated sender's DID (authcrypt or signature); undefined for anoncrypt. */
  sender?: string
}

/** The connection a message arrived on, as far as protocols care. */
export interface Session {
  readonly transport: 'http' | 'websocket' | 'libp2p'
  /** Over libp2p: the remote peer's ID (who relayed the message). */
  readonly peer?: string
  /** Over libp2p: the remote IP address, whose outbox quota a relaying peer's messages count against. */
  readonly host?: string
  /** Present only where the node can push later messages (live delivery). */
  push?: (packed: string) => void
  /** Ends a persistent connection (e.g. of a client whose mediation was revoked). */
  close?: () => void
}

/** Pushes queued messages to clients connected in live mode. */
export interface LiveDelivery {
  /** Binds `session` to `client` and claims its backlog; call the returned function to push it. */
  enable(session: Session, client: string, version: PickupVersion): Promise<() => void>
  disable(session: Session): void
  isLive(session: Session): boolean
  /** Sessions in live mode now. */
  sessions(): number
  /** Ids pushed to the client and not yet acknowledged: not counted as waiting. */
  inFlight(client: string): ReadonlySet<string>
  acknowledged(client: string, ids: readonly string[]): void
  /** A message was queued for `recipient`, held by `client`. */
  queued(client: string, recipient: string): void
  /** Ends every live session of `client` (its mediation was revoked). */
  drop(client: string): void
}

export type PickupVersion = '3.0' | '4.0'

export interface Limits {
  maxRecipientsPerClient: number
  maxMediations: number
  maxMessageBytes: number
}

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

export interface HandlerContext {
  /** The mediator DID the request was addressed to: replies come from it. */
  nodeDid: string
  /** Every DID this node answers to (current and earlier). */
  ownDids: ReadonlySet<string>
  mailbox: Mailbox
  mediations: Mediations
  /** Who may get a new mediation (open, invite or closed). */
  mediationPolicy: MediationPolicy
  resolver: DIDResolver
  live: LiveDelivery
  onward: Onward
  limits: Limits
  session: Session
  /** Handles a packed message addressed to this node: the next layer of a forward to one of our own DIDs. */
  receive(packed: string): Promise<void>
}

export interface HandlerResult {
  replies?: PlainMessage[]
  /** Runs after the replies are on their way (e.g. live pushes that must follow a status). */
  after?: () => void
}

export type Handler = (inbound: InboundMessage, ctx: HandlerContext) => Promise<HandlerResult>

/** A refusal that becomes a problem report on the request's thread (HTTP picks its status from the code). */
export class ProblemReportError extends Error {
  override name = 'ProblemReportError'
  readonly code: ProblemCode

  constructor (code: ProblemCode, comment: string) {
    super(comment)
    this.code = code
  }
}

/** A reply on the request's thread, from the node to the sender. */
export function replyTo (inbound: InboundMessage, ctx: Pick<HandlerContext, 'nodeDid'>, type: string, body: Record<string, unknown>, extra: Partial<PlainMessage> = {}): PlainMessage {
  return {
    id: randomUUID(),
    type,
    body,
    from: ctx.nodeDid,
    ...(inbound.sender === undefined ? {} : { to: [inbound.sender] }),
    thid: inbound.message.thid ?? inbound.message.id,
    created_time: Math.floor(Date.now() / 1000),
    ...extra
  }
}

/** The authenticated sender, or a problem report: mediation and pickup need to know who asks. */
export function requireSender (inbound: InboundMessage): string {
  if (inbound.sender === undefined) {
    throw new ProblemReportError(PROBLEM.unauthenticated, 'this request must be authcrypted from the client DID')
  }
  return inbound.sender
}

/** The sender must hold a mediation here. */
export async function requireMediation (inbound: InboundMessage, ctx: HandlerContext): Promise<string> {
  const client = requireSender(inbound)
  if (await ctx.mediations.get(client) === undefined) {
    throw new ProblemReportError(PROBLEM.notEnrolled, 'no mediation granted to this DID: send a mediate-request first')
  }
  return client
}

/** A message type as a problem comment quotes it: the sender chose it, so it is cut short. */
export function quotedType (message: { type?: unknown }): string {
  const type = String(message.type)
  return type.length > 100 ? `${type.slice(0, 100)}…` : type
}

/** Validates a message body against its schema, or refuses it naming what is wrong. */
export function parseBody<T> (schema: z.ZodType<T>, inbound: InboundMessage): T {
  const parsed = schema.safeParse(inbound.message.body ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined || issue.path.length === 0 ? 'body' : `body.${issue.path.join('.')}`
    throw new ProblemReportError(PROBLEM.malformed, `${quotedType(inbound.message)}: ${where}: ${issue?.message ?? 'invalid'}`)
  }
  return parsed.data
}
