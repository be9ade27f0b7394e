/**
 * A WebSocket to a node that keeps every frame it receives, in order, so a reader can wait for the
 * n-th one. The benchmark's wallet socket reads through it; the tests' client reuses it (bench/
 * imports nothing from test/).
 */
import WebSocket from 'ws'

export interface Frame {
  text: string
  binary: boolean
  /** When it arrived (performance.now()), for latencies measured to the frame rather than to whoever reads it. */
  at: number
}

export class FrameSocket {
  readonly frames: Frame[] = []
  private readonly ws: WebSocket
  private waiters: Array<() => void> = []
  private closed = false

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ text: data.toString('utf8'), binary, at: performance.now() })
      for (const wake of this.waiters.splice(0)) wake()
    })
    // A reader waiting for a frame that can no longer come is told at once, not at its timeout.
    ws.on('close', () => {
      this.closed = true
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  /** `localAddress`: the address to connect from (127.0.0.x spreads many sockets over more ephemeral ports). */
  static async open (url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<FrameSocket> {
    const ws = new WebSocket(url, { headers, ...(localAddress === undefined ? {} : { localAddress }) })
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
    return new FrameSocket(ws)
  }

  send (packed: string): void {
    this.ws.send(packed)
  }

  /** The frame at `index` (0-based), waiting up to `timeout` ms for it. */
  async frame (index: number, timeout = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeout
    while (this.frames.length <= index) {
      if (this.closed) throw new Error(`the WebSocket closed before frame #${index} (got ${this.frames.length})`)
      if (Date.now() > deadline) throw new Error(`no WebSocket frame #${index} within ${timeout} ms (got ${this.frames.length})`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.frames[index] as Frame
  }

  /** The frame at `index`, as frame(), its text then no longer kept here: a reader of every frame once keeps memory flat. */
  async take (index: number, timeout = 10_000): Promise<Frame> {
    const frame = await this.frame(index, timeout)
    this.frames[index] = { ...frame, text: '' }
    return frame
  }

  async close (): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>(resolve => { this.ws.once('close', () => { resolve() }); this.ws.close() })
  }
}
