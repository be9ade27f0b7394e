/**
 * Real push services for tests, on 127.0.0.1: a Web Push service that checks every push as a real one
 * would (the VAPID JWT's ES256 signature, audience and expiry, RFC 8292) and decrypts its aes128gcm
 * body with the subscription's private key (RFC 8291, with http_ece, the library web-push itself
 * builds on), and a push gateway that records what it is posted.
 */
import { createECDH, createPublicKey, randomBytes, verify } from 'node:crypto'
import type { ECDH } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'

const ece = createRequire(import.meta.url)('http_ece') as { decrypt: (buffer: Buffer, params: { version: string, privateKey: ECDH, authSecret: string }) => Buffer }

/** How the test service answers: a status code, or 'hang' (never answer: a stalled service). */
export type Answer = number | 'hang'

export interface ReceivedPush {
  /** The subscription it was for (the endpoint's last path segment). */
  subscription: string
  /** The decrypted payload, parsed. */
  payload: unknown
  /** The decrypted payload as it came. */
  text: string
  /** The VAPID public key that signed it (k=). */
  vapidKey: string
  claims: { aud: string, exp: number, sub: string }
  /** RFC 8030 headers: how urgent, which topic (a newer push of one topic replaces an undelivered one), how long to keep it. */
  headers: { urgency?: string, topic?: string, ttl?: string }
  at: number
}

export interface TestSubscription {
  id: string
  subscription: { endpoint: string, keys: { p256dh: string, auth: string } }
}

export interface WebPushService {
  url: string
  /** A new browser-side subscription at this service: its keys are the test's, so it can decrypt. */
  subscribe(): TestSubscription
  received: ReceivedPush[]
  /** Pushes that failed a check, with why: a test expects none. */
  invalid: string[]
  answer(status: Answer): void
  close(): Promise<void>
}

async function bodyOf (request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function listen (server: Server): Promise<string> {
  const port = await new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    resolve(typeof address === 'object' && address !== null ? address.port : 0)
  }))
  return `http://127.0.0.1:${port}`
}

async function closeServer (server: Server, hanging: Set<ServerResponse>): Promise<void> {
  for (const response of hanging) response.socket?.destroy()
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
}

/** Checks a VAPID Authorization header (vapid t=<JWT>, k=<public key>) against the audience; returns its key and claims. */
function checkVapid (header: string | undefined, audience: string): { vapidKey: string, claims: ReceivedPush['claims'] } {
  const match = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(header ?? '')
  if (match === null) throw new Error(`no VAPID authorization: ${header}`)
  const [jwt = '', vapidKey = ''] = [match[1], match[2]]
  const [head = '', body = '', signature = ''] = jwt.split('.')
  const point = Buffer.from(vapidKey, 'base64url')
  if (point.length !== 65 || point[0] !== 4) throw new Error('k is not an uncompressed P-256 key')
  const key = createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') } })
  if (JSON.parse(Buffer.from(head, 'base64url').toString()).alg !== 'ES256') throw new Error('not ES256')
  if (!verify('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))) throw new Error('bad VAPID signature')
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as ReceivedPush['claims']
  if (claims.aud !== audience) throw new Error(`aud ${claims.aud} is not ${audience}`)
  const now = Date.now() / 1000
  if (!(claims.exp > now && claims.exp <= now + 24 * 3600 + 60)) throw new Error('exp not within 24 h')
  if (!/^(mailto:|https:)/.test(claims.sub)) throw new Error('sub is not a mailto: or https: URL')
  return { vapidKey, claims }
}

/**
 * A server on 127.0.0.1 that answers each request with the status answer() last set, or holds it
 * ('hang'); `take` sees each request and its body first, and answers 400 by returning false.
 */
async function answeringServer (initial: Answer, take: (request: IncomingMessage, body: Buffer) => boolean): Promise<{ url: string, answer: (next: Answer) => void, close: () => Promise<void> }> {
  const hanging = new Set<ServerResponse>()
  let status = initial
  const server = createServer((request, response) => {
    void (async () => {
      const body = await bodyOf(request)
      if (status === 'hang') {
        hanging.add(response)
        return
      }
      response.writeHead(take(request, body) ? status : 400).end()
    })()
  })
  return { url: await listen(server), answer: next => { status = next }, close: async () => { await closeServer(server, hanging) } }
}

export async function startWebPushService (): Promise<WebPushService> {
  const keys = new Map<string, { ecdh: ECDH, auth: string }>()
  const received: ReceivedPush[] = []
  const invalid: string[] = []
  const server = await answeringServer(201, (request, body) => {
    const id = request.url?.split('/').at(-1) ?? ''
    const subscriber = keys.get(id)
    try {
      if (request.method !== 'POST' || subscriber === undefined) throw new Error(`no subscription at ${request.url}`)
      if (request.headers['content-encoding'] !== 'aes128gcm') throw new Error('not aes128gcm')
      if (request.headers.ttl === undefined) throw new Error('no TTL')
      const { vapidKey, claims } = checkVapid(request.headers.authorization, server.url)
      const text = ece.decrypt(body, { version: 'aes128gcm', privateKey: subscriber.ecdh, authSecret: subscriber.auth }).toString('utf8')
      const { urgency, topic, ttl } = request.headers as Record<string, string | undefined>
      received.push({ subscription: id, payload: JSON.parse(text), text, vapidKey, claims, headers: { urgency, topic, ttl }, at: Date.now() })
      return true
    } catch (err) {
      invalid.push(err instanceof Error ? err.message : String(err))
      return false
    }
  })
  return {
    url: server.url,
    subscribe () {
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const id = randomBytes(8).toString('hex')
      const auth = randomBytes(16).toString('base64url')
      keys.set(id, { ecdh, auth })
      return { id, subscription: { endpoint: `${server.url}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth } } }
    },
    received,
    invalid,
    answer: server.answer,
    close: server.close
  }
}

export interface PushGateway {
  url: string
  received: Array<Record<string, unknown>>
  answer(status: Answer): void
  close(): Promise<void>
}

/** A push gateway, as a wallet vendor runs one: it takes { token, platform, ... } and would forward to FCM or APNs. */
export async function startPushGateway (): Promise<PushGateway> {
  const received: Array<Record<string, unknown>> = []
  const server = await answeringServer(200, (request, body) => {
    if (request.headers['content-type'] === 'application/json') received.push(JSON.parse(body.toString('utf8')) as Record<string, unknown>)
    return true
  })
  return { url: `${server.url}/notify`, received, answer: server.answer, close: server.close }
}
