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
  const timer = setInterval(() => {
    if (checking) return
    checking = true
    // A check that has not answered within the interval counts as a failure meanwhile.
    const slow = setTimeout(() => { reachable = false }, intervalMs)
    slow.unref()
    check()
      .then(() => { reachable = true }, () => { reachable = false })
      .finally(() => {
        clearTimeout(slow)
        checking = false
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
