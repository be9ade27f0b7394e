import { randomUUID } from 'node:crypto'
import type { z } from 'zod'
import type { PlainMessage } from '../didcomm/envelope.ts'
import { PROBLEM } from './problem-report/codes.ts'
import { ProblemReportError } from './problem-report/error.ts'

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

/** What differs per message; a protocol's components are bound once, when its handlers are made. */
export interface MessageContext {
  /** The mediator DID the request was addressed to: replies come from it. */
  nodeDid: string
  session: Session
  /**
   * Set when the request came in Veramo 7's legacy JWE dialect: its replies are packed in it, and a
   * delivery carries its messages as `data.json` (the only form Veramo reads).
   */
  dialect?: 'legacy'
  /** Handles a packed message addressed to this node: the next layer of a forward to one of our own DIDs. */
  receive(packed: string): Promise<void>
}

export interface HandlerResult {
  replies?: PlainMessage[]
  /** Runs after the replies are on their way (e.g. live pushes that must follow a status). */
  after?: () => void
}

export type Handler = (inbound: InboundMessage, ctx: MessageContext) => Promise<HandlerResult>

/** A reply on the request's thread, from the node to the sender. */
export function replyTo (inbound: InboundMessage, ctx: Pick<MessageContext, 'nodeDid'>, type: string, body: Record<string, unknown>, extra: Partial<PlainMessage> = {}): PlainMessage {
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
