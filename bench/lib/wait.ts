/** Polling for the benchmark (its own, so bench/ imports nothing from test/; the tests reuse it). */

/** Polls `check` until it returns something other than undefined, or fails after `timeout` ms. */
export async function waitFor<T> (check: () => Promise<T | undefined> | T | undefined, timeout = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}
