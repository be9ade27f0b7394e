import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { RawData, WebSocket } from 'ws'
import type { LiveDelivery, Session } from '../../protocols/types.ts'
import type { Inbound } from '../inbound.ts'

/**
 * Which frame type carries messages to a client. No one framing serves every wallet: the Identus SDK
 * on Node drops binary frames, a browser wallet reading `Blob.text()` loses text frames. `auto` sends
 * binary when the upgrade request carried an Origin header (browsers always send one), text otherwise.
 */
export type FrameRule = 'auto' | 'text' | 'binary'

export const WEBSOCKET_PATH = '/ws'

export function usesBinaryFrames (rule: FrameRule, origin: string | undefined): boolean {
  return rule === 'binary' || (rule === 'auto' && origin !== undefined)
}

function toText (data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data as ArrayBuffer).toString('utf8')
}

/** DIDComm over WebSocket: every frame is one message; replies and live pushes come back on the socket. */
export function registerWebSocket (app: FastifyInstance, inbound: Inbound, live: LiveDelivery, rule: FrameRule, logger: Logger): void {
  app.get(WEBSOCKET_PATH, { websocket: true }, (socket: WebSocket, request) => {
    const binary = usesBinaryFrames(rule, request.headers.origin)
    const send = (text: string): void => {
      if (socket.readyState === socket.OPEN) socket.send(binary ? Buffer.from(text) : text, { binary })
    }
    const session: Session = { transport: 'websocket', push: send }
    // Messages on one socket are handled in order, as a client sends them.
    let queue = Promise.resolve()
    socket.on('message', (data: RawData) => {
      queue = queue.then(async () => {
        const outcome = await inbound.receive(toText(data), session)
        for (const reply of outcome.replies) send(reply)
        outcome.after?.()
      }).catch(err => { logger.warn({ err }, 'websocket message failed') })
    })
    socket.on('close', () => { live.disable(session) })
    socket.on('error', err => { logger.debug({ err }, 'websocket error') })
  })
}
