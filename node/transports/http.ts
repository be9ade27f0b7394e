import { createServer } from 'node:http'
import cors from '@fastify/cors'
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { ENCRYPTED_MEDIA_TYPE } from '../../didcomm/jose.ts'
import { problemReport } from '../../protocols/problem-report/messages.ts'
import type { LiveDelivery } from '../../protocols/pickup/live.ts'
import type { ClientAddress } from '../client-address.ts'
import type { Inbound, InboundOutcome } from '../inbound.ts'
import type { RateLimiter } from '../rate-limit.ts'
import { WEBSOCKET_PATH, registerWebSocket } from './websocket.ts'
import type { FrameRule } from './websocket.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'

export interface HttpTransportInit {
  maxMessageBytes: number
  corsOrigins: string[]
  websocketFrames: FrameRule
  /** Seconds a request (headers and body) may take to arrive. */
  requestTimeoutSeconds: number
  websocketIdleSeconds: number
  rateLimiter: RateLimiter
  /** The real client of a request behind trusted proxies; rate limits and logs use it. */
  clientAddress: ClientAddress
  /** Whether the mediator DID names https endpoints (--public-url). */
  publicHttps: boolean
}

/** What the node answers on the operator endpoints (info, invitation, readiness, metrics), and whether DIDComm may be served yet. */
export interface OperatorEndpoints {
  /** GET /info */
  info: () => unknown
  /** GET /oob */
  invitation: () => unknown
  /** GET /mesh/mixes: the mix directory this node offers its clients (public anyway: any mesh peer learns it) */
  mixes: () => unknown
  /** Whether the node can decrypt yet (DIDComm requests wait for it) */
  ready: () => boolean
  /** GET /ready: every check and their conjunction */
  readiness: () => { ready: boolean, checks: Record<string, boolean> }
  /** GET /metrics: Prometheus text */
  metrics: () => Promise<{ contentType: string, text: string }>
  /** The node's did:web document and the path it is served at; undefined until the node is named. */
  didDocument?: { path: string, document: () => unknown }
}

/**
 * The HTTP status of a refused request, by problem code; any other code is 400 (the request is at
 * fault). Only HTTP has statuses: WebSocket and libp2p answer with the problem report alone.
 */
const HTTP_STATUS: Partial<Record<string, number>> = {
  [PROBLEM.unauthenticated]: 401,
  [PROBLEM.notEnrolled]: 403,
  [PROBLEM.recipientNotHeld]: 403,
  [PROBLEM.relayNotAllowed]: 403,
  [PROBLEM.destinationNotAllowed]: 403,
  [PROBLEM.replay]: 409,
  [PROBLEM.tooBig]: 413,
  [PROBLEM.unknownRecipient]: 422,
  [PROBLEM.rateLimited]: 429,
  [PROBLEM.quotaOrigin]: 429,
  [PROBLEM.internal]: 500,
  [PROBLEM.notReady]: 503,
  [PROBLEM.storageFull]: 507,
  [PROBLEM.quotaOutbox]: 507
}

export function httpStatusOf (code: string): number {
  return HTTP_STATUS[code] ?? 400
}

/** The answer a DIDComm POST gets: the reply JWE as the body (clients rely on it even without return_route), else 202. */
function sendOutcome (reply: FastifyReply, outcome: InboundOutcome): FastifyReply {
  const [first] = outcome.replies
  const status = outcome.problem !== undefined ? httpStatusOf(outcome.problem.code) : first !== undefined ? 200 : 202
  if (first === undefined) return reply.code(status).send()
  return reply.code(status).type(first.kind === 'encrypted' ? ENCRYPTED_MEDIA_TYPE : 'application/json').send(first.text)
}

/** Status and problem code for errors fastify raises before a body reaches us (size, media type, framing). */
function problemFor (err: FastifyError): { status: number, code: string } {
  if (err.statusCode === 413) return { status: 413, code: PROBLEM.tooBig }
  if (err.statusCode === 415) return { status: 415, code: PROBLEM.unsupportedMediaType }
  return { status: err.statusCode !== undefined && err.statusCode < 500 ? err.statusCode : 500, code: PROBLEM.malformed }
}

/** HTTP and WebSocket on one port: DIDComm at POST / and /ws, plus health, info and the invitation. */
export async function createHttpTransport (inbound: Inbound, live: LiveDelivery, operator: OperatorEndpoints, init: HttpTransportInit, logger: Logger): Promise<FastifyInstance> {
  const timeout = init.requestTimeoutSeconds * 1000
  const app = Fastify({
    // Requests are not logged one by one: they would name clients' IPs next to their DIDs.
    logger: false,
    bodyLimit: init.maxMessageBytes,
    // Headers and body must arrive within the request timeout (Node's own default allows a minute
    // for headers), checked every second rather than every 30 s, so slow senders cannot hold sockets.
    serverFactory: handler => createServer({ requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: 1000 }, handler)
  })
  // Browser wallets post from other origins with a non-simple content type, so preflights must pass.
  await app.register(cors, {
    origin: init.corsOrigins.includes('*') ? '*' : init.corsOrigins,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['content-type']
  })
  // maxPayload is checked against each frame's header, before its body is buffered.
  // On stop, live clients get a proper close (1001 going away) and reconnect elsewhere or later.
  await app.register(websocket, {
    options: { maxPayload: init.maxMessageBytes },
    preClose: done => {
      for (const client of app.websocketServer.clients) client.close(1001, 'node stopping')
      done()
    }
  })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser([ENCRYPTED_MEDIA_TYPE, 'application/json'], { parseAs: 'string' }, (_req, body, done) => { done(null, body) })

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    const { status, code } = problemFor(err)
    if (status >= 500) logger.error({ err }, 'http request failed')
    return reply.code(status).type('application/json').send(JSON.stringify(problemReport(code, err.message)))
  })

  // The mediator DID names the bound port, so the server listens a moment before it can decrypt:
  // DIDComm requests and WebSocket upgrades wait for readiness (clients retry on 503).
  app.addHook('onRequest', async (request, reply) => {
    if (operator.ready() || request.method !== 'POST' && request.url !== WEBSOCKET_PATH) return
    return await reply.code(httpStatusOf(PROBLEM.notReady)).type('application/json').send(JSON.stringify(problemReport(PROBLEM.notReady, 'the node is starting; try again')))
  })

  // A TLS proxy in front of a node whose DID names http endpoints sends wallets around the proxy.
  let warnedScheme = false
  // Checked before the body is read, so a flood costs no buffering or decryption.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST') return
    const client = init.clientAddress(request.socket.remoteAddress, request.headers)
    if (client.proto === 'https' && !init.publicHttps && !warnedScheme) {
      warnedScheme = true
      logger.warn('requests arrive through a TLS proxy but the mediator DID names http endpoints: set --public-url to the https URL wallets use')
    }
    if (init.rateLimiter.allow(client.address)) return
    logger.debug({ ip: client.address, transport: 'http' }, 'rate limited')
    return await reply.code(httpStatusOf(PROBLEM.rateLimited)).header('retry-after', '1').type('application/json').send(JSON.stringify(problemReport(PROBLEM.rateLimited, 'too many requests from this address; try again shortly')))
  })

  // A response already under way when close() starts would leave its socket kept alive (fetch holds it
  // for the advertised 72 s), and close() waits for it: a polling wallet (Identus polls every few
  // seconds) held the node's stop ~70 s. Such responses end their connection instead.
  let closing = false
  app.addHook('preClose', done => { closing = true; done() })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })

  app.post('/', async (request, reply) => {
    const outcome = await inbound.receive(request.body as string, { transport: 'http' })
    sendOutcome(reply, outcome)
    outcome.after?.()
    return reply
  })

  app.get('/health', async () => ({ status: 'ok' }))
  app.get('/ready', async (_request, reply) => {
    const { ready, checks } = operator.readiness()
    return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await operator.metrics()
    return await reply.type(contentType).send(text)
  })
  app.get('/info', async () => operator.info())
  app.get('/oob', async () => operator.invitation())
  const didDocument = operator.didDocument
  if (didDocument !== undefined) {
    app.get(didDocument.path, async (_request, reply) => {
      const document = didDocument.document()
      if (document === undefined) return await reply.code(503).type('application/json').send(JSON.stringify(problemReport(PROBLEM.notReady, 'the node is starting; try again')))
      return await reply.type('application/did+json').send(JSON.stringify(document))
    })
  }
  app.get('/mesh/mixes', async () => ({ mixes: operator.mixes() }))

  registerWebSocket(app, inbound, live, { rule: init.websocketFrames, idleSeconds: init.websocketIdleSeconds, rateLimiter: init.rateLimiter, clientAddress: init.clientAddress }, logger)
  return app
}
