/**
 * One long-lived relay stream to a peer, with pipelined frames: requests go out back to back and
 * the receiver answers each with a status frame, in order. A new stream per message cost a stream
 * open and protocol negotiation on every hop. Anything going wrong on the stream (a timeout, a
 * reset, an unexpected frame) fails every request still waiting, which the outbox retries; the
 * receiver drops duplicates, so a message that did land is not queued twice.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { MeshLibp2p } from '../libp2p.ts'
import { DIDCOMM_MESH_PROTOCOL, SENDER_IDLE_MS, STATUS_MAX_BYTES, decodeStatus } from '../wire.ts'
import type { StatusFrame } from '../wire.ts'

export class RelayChannel {
  private readonly stream: Stream
  private readonly lp: ReturnType<typeof lpStream<Stream>>
  private readonly waiting: Array<PromiseWithResolvers<StatusFrame>> = []
  private writes: Promise<void> = Promise.resolve()
  private idleTimer: NodeJS.Timeout | undefined
  private failure: Error | undefined

  private constructor (stream: Stream) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: STATUS_MAX_BYTES })
    void this.readStatuses()
    this.armIdleClose()
  }

  static async open (libp2p: MeshLibp2p, peerId: PeerId, signal: AbortSignal): Promise<RelayChannel> {
    return new RelayChannel(await libp2p.dialProtocol(peerId, DIDCOMM_MESH_PROTOCOL, { signal }))
  }

  /** False once the stream failed or closed: open a new channel. */
  get usable (): boolean {
    return this.failure === undefined
  }

  /** Sends one packed message and resolves with the receiver's status for it. */
  async request (packed: string, signal: AbortSignal): Promise<StatusFrame> {
    if (this.failure !== undefined) throw this.failure
    // An abort listener added now would never fire: the dial used up the time allowed.
    signal.throwIfAborted()
    clearTimeout(this.idleTimer)
    const answer = Promise.withResolvers<StatusFrame>()
    this.waiting.push(answer)
    const frame = new TextEncoder().encode(packed)
    this.writes = this.writes.then(async () => { await this.lp.write(frame, { signal }) })
    this.writes.catch((err: unknown) => { this.fail(err) })
    const onAbort = (): void => { this.fail(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await answer.promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** Closes the stream: statuses still due are failed (and retried by the outbox). */
  close (): void {
    this.fail(new Error('relay channel closed'))
  }

  private async readStatuses (): Promise<void> {
    try {
      for (;;) {
        const frame = await this.lp.read()
        if (this.waiting.length === 0) throw new Error('a status frame nobody asked for')
        // Decoded before its request leaves the queue: a bad frame then fails that request too.
        const status = decodeStatus(frame.subarray())
        ;(this.waiting.shift() as PromiseWithResolvers<StatusFrame>).resolve(status)
        if (this.waiting.length === 0) this.armIdleClose()
      }
    } catch (err) {
      this.fail(err)
    }
  }

  private armIdleClose (): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.waiting.length > 0 || this.failure !== undefined) return
      this.failure = new Error('relay channel idle')
      void this.stream.close().catch((err: unknown) => { this.stream.abort(err as Error) })
    }, SENDER_IDLE_MS)
    this.idleTimer.unref()
  }

  private fail (err: unknown): void {
    clearTimeout(this.idleTimer)
    const error = err instanceof Error ? err : new Error(String(err))
    if (this.failure === undefined) {
      this.failure = error
      this.stream.abort(error)
    }
    for (const answer of this.waiting.splice(0)) answer.reject(error)
  }
}
