import type { Logger } from 'pino'

/**
 * The node's stages, stopped in the reverse of their start order. Each stage says what to stop as
 * soon as it has started, so a start that fails part-way (a locked store, a taken port) stops what
 * had started and leaves nothing open.
 */
export class Lifecycle {
  private readonly stops: Array<{ stage: string, stop: () => Promise<void> | void }> = []
  private readonly logger: Logger

  constructor (logger: Logger) {
    this.logger = logger
  }

  /** `stage` has started; `stop` undoes it. */
  started (stage: string, stop: () => Promise<void> | void): void {
    this.stops.push({ stage, stop })
  }

  /** Stops every started stage, newest first; one that fails to stop does not keep the others running. */
  async stop (): Promise<void> {
    for (let next = this.stops.pop(); next !== undefined; next = this.stops.pop()) {
      try {
        await next.stop()
      } catch (err) {
        this.logger.error({ err, stage: next.stage }, 'stage failed to stop')
      }
    }
  }
}
