/**
 * Whether the database answers: false from the first failure seen (a dropped connection, a failed
 * query) until a periodic cheap check gets through again, so that GET /ready tracks the server.
 */
export interface Reachability {
  reachable(): boolean
  /** Something failed for want of the server: unreachable until the next successful check. */
  failed(): void
  stop(): void
}

export function watchReachability (check: () => Promise<unknown>, intervalMs: number): Reachability {
  let reachable = true
  let checking = false
  let round = 0
  const timer = setInterval(() => {
    if (checking) return
    checking = true
    const mine = ++round
    // A check that has not answered within the interval counts as a failure, and the next one goes
    // out regardless: a query hung on a half-open connection must not keep the store unreachable.
    const slow = setTimeout(() => {
      reachable = false
      if (round === mine) checking = false
    }, intervalMs)
    slow.unref()
    check()
      .then(() => { reachable = true }, () => { reachable = false })
      .finally(() => {
        clearTimeout(slow)
        if (round === mine) checking = false
      })
  }, intervalMs)
  // The check alone must not keep a process alive.
  timer.unref()
  return {
    reachable: () => reachable,
    failed: () => { reachable = false },
    stop: () => { clearInterval(timer) }
  }
}
