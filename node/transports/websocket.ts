import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { RawData, WebSocket } from 'ws'
import { problemReport } from '../../protocols/problem-report/messages.ts'
import type { Session } from '../../protocols/message.ts'
import type { LiveDelivery } from '../../protocols/pickup/live.ts'
import type { ClientAddress } from '../client-address.ts'
import type { Inbound } from '../inbound.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'
import type { RateLimiter } from '../rate-limit.ts'

/**
 * Which frame type carries messages to a client. No one framing serves every wallet: the Identus SDK
 * on Node drops binary frames, a browser wallet reading `Blob.text()` loses text frames. `auto` sends
 * binary when the upgrade request carried an Origin header (browsers always send one), text otherwise.
 */
export type FrameRule = 'auto' | 'text' | 'binary'

export const WEBSOCKET_PATH = '/ws'
/** Every socket is pinged this often; one that has not answered the previous ping is dropped. */
const PING_INTERVAL_MS = 30_000
/**
 * Frames one socket may have waiting to be handled. Frames are handled one after another, so a client
 * sending faster than that (or never waiting for answers) would otherwise pile them up in memory.
 */
export const MAX_WAITING_FRAMES = 32

export interface WebSocketInit {
  rule: FrameRule
  /** A socket not in live mode that sends nothing for this long is closed. */
  idleSeconds: number
  rateLimiter: RateLimiter
  /** The real client of the upgrade request (behind trusted proxies), whose budget the socket's messages use. */
  clientAddress: ClientAddress
}

export function usesBinaryFrames (rule: FrameRule, origin: string | undefined): boolean {
  return rule === 'binary' || (rule === 'auto' && origin !== undefined)
}

function toText (data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data as ArrayBuffer).toString('utf8')
}

/**
 * @fastify/websocket routes an upgrade as a request with a made-up response and keeps both for the
 * socket's life: the response stays assigned to the TCP socket, and the error listener it adds holds
 * the request and reply (~2 KB a socket, a tenth of a live socket's cost). An open socket needs
 * neither: the response is detached, and the listener (which terminates the socket, as ws does after
 * an error anyway, and logs through fastify's logger, off here) gives way to this transport's own.
 */
function releaseUpgrade (socket: WebSocket, request: FastifyRequest): void {
  const tcp = request.raw.socket as Socket & { _httpMessage?: ServerResponse }
  tcp._httpMessage?.detachSocket(tcp)
  socket.removeAllListeners('error')
}

/** DIDComm over WebSocket: every frame is one message; replies and live pushes come back on the socket. */
export function registerWebSocket (app: FastifyInstance, inbound: Inbound, live: LiveDelivery, init: WebSocketInit, logger: Logger): void {
  app.get(WEBSOCKET_PATH, { websocket: true }, (socket: WebSocket, request) => {
    releaseUpgrade(socket, request)
    const binary = usesBinaryFrames(init.rule, request.headers.origin)
    const client = init.clientAddress(request.socket.remoteAddress, request.headers).address
    const send = (text: string): void => {
      if (socket.readyState === socket.OPEN) socket.send(binary ? Buffer.from(text) : text, { binary })
    }
    const session: Session = { transport: 'websocket', push: send, close: () => { socket.close(1008, 'mediation revoked') } }

    // Dead peers (no pong) and idle sockets that wait for nothing are closed.
    let answeredPing = true
    let lastMessageAt = Date.now()
    const heartbeat = setInterval(() => {
      if (!answeredPing) {
        socket.terminate()
        return
      }
      if (!live.isLive(session) && Date.now() - lastMessageAt > init.idleSeconds * 1000) {
        socket.close(1000, 'idle')
        return
      }
      answeredPing = false
      socket.ping()
    }, Math.min(PING_INTERVAL_MS, init.idleSeconds * 1000))
    heartbeat.unref()
    socket.on('pong', () => { answeredPing = true })

    // Messages on one socket are handled in order, as a client sends them.
    let queue = Promise.resolve()
    let waiting = 0
    socket.on('message', (data: RawData) => {
      if (socket.readyState !== socket.OPEN) return
      lastMessageAt = Date.now()
      if (!init.rateLimiter.allow(client)) {
        logger.debug({ ip: client, transport: 'websocket' }, 'rate limited')
        send(JSON.stringify(problemReport(PROBLEM.rateLimited, 'too many requests from this address; message dropped, send it again shortly')))
        return
      }
      if (waiting >= MAX_WAITING_FRAMES) {
        logger.debug({ ip: client }, 'websocket closed: too many frames waiting')
        socket.close(1008, 'too many messages waiting; wait for answers')
        return
      }
      waiting++
      queue = queue.then(async () => {
        const outcome = await inbound.receive(toText(data), session)
        for (const reply of outcome.replies) send(reply.text)
        outcome.after?.()
      }).catch(err => { logger.warn({ err, ip: client }, 'websocket message failed') })
        .finally(() => { waiting-- })
    })
    socket.on('close', () => {
      clearInterval(heartbeat)
      live.disable(session)
    })
    socket.on('error', err => { logger.debug({ err }, 'websocket error') })
  })
}
