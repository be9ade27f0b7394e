/** Fresh forwards by index for an open loop that runs for minutes or hours, packed a chunk ahead of the one being sent. */
import type { ThirdPartyAgent } from './agent.ts'
import type { ForwardSpec } from './forwards.ts'
import { packedChunks } from './pack.ts'

export interface ForwardSupply {
  forward: (i: number) => Promise<string>
  waitedMs: () => number
}

/**
 * Forward i of `count` (asked for in order, as an open loop does), in chunks of `chunkSize`: asking
 * for the first of a chunk takes it from the packers and starts packing the next. A forward whose
 * chunk is not packed yet waits; `waitedMs` is how long the chunks so far kept the load waiting in all.
 */
export function forwardSupply (business: ThirdPartyAgent, spec: ForwardSpec, count: number, chunkSize: number): ForwardSupply {
  const sizes = Array.from({ length: Math.ceil(count / chunkSize) }, (_, k) => Math.min(chunkSize, count - k * chunkSize))
  const feed = packedChunks(business, spec, sizes)
  const chunks = new Map<number, Promise<string[]>>()
  let taken = -1
  let waitedMs = 0
  const take = (): void => {
    const asked = performance.now()
    const chunk = feed.next().then(({ value, done }) => {
      if (done === true) throw new Error(`more than the ${count} forwards packed asked for`)
      waitedMs += performance.now() - asked
      return value
    })
    chunks.set(++taken, chunk)
    // Every forward of the chunk before last has been asked for: only its senders still hold it.
    chunks.delete(taken - 2)
  }
  return {
    forward: async i => {
      const k = Math.floor(i / chunkSize)
      while (taken < k) take()
      return (await chunks.get(k) as string[])[i - k * chunkSize] as string
    },
    waitedMs: () => waitedMs
  }
}
