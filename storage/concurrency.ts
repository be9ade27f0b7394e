/** Small concurrency helpers the stores and the node share. */

/** Runs tasks one at a time, in the order given: a check and the write it allows must not interleave. */
export function serialized (): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return async task => {
    const run = tail.then(task)
    tail = run.catch(() => {})
    return await run
  }
}

/** Up to `size` holders at once: the function resolves, once there is room, with the one that gives the slot back. */
export function slots (size: number): () => Promise<() => void> {
  let free = size
  const waiting: Array<() => void> = []
  const give = (): void => {
    const next = waiting.shift()
    if (next === undefined) free++
    else next()
  }
  return async () => {
    if (free > 0) free--
    else await new Promise<void>(resolve => { waiting.push(resolve) })
    return give
  }
}
