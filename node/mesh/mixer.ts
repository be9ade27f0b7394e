/**
 * A mix node's hold: each forward relayed for a mesh peer waits a random delay before it goes on,
 * so forwards leave in an order other than the one they came in. Only forwards in the outbox's
 * window wait (they are in memory already), and at most `maxHeld` at once: beyond that they go on
 * without delay rather than being refused, since a refusal would only make the previous hop send
 * them again.
 */
export interface MixerInit {
  /** Longest delay; each forward waits a uniform random time up to it. 0 turns the hold off. */
  maxDelayMs: number
  maxHeld: number
}

export interface Mixer {
  /** Resolves after the forward's random delay (at once when the hold is full or off). */
  hold(): Promise<void>
  /** Forwards waiting now. */
  held(): number
}

export function createMixer (init: MixerInit): Mixer {
  let held = 0
  return {
    async hold () {
      if (init.maxDelayMs <= 0 || held >= init.maxHeld) return
      held++
      try {
        await new Promise<void>(resolve => { setTimeout(resolve, Math.random() * init.maxDelayMs).unref() })
      } finally {
        held--
      }
    },
    held: () => held
  }
}
