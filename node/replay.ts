import { createHash } from 'node:crypto'
import type { PlainMessage } from '../didcomm/envelope.ts'
import { ProblemReportError } from '../protocols/problem-report/error.ts'
import { PROBLEM } from '../protocols/problem-report/codes.ts'

export interface ReplayGuardInit {
  /** How far a message's created_time may lie from now, and how long its id is remembered. */
  windowMs?: number
  /** Ids remembered at most; the oldest are forgotten first. */
  maxEntries?: number
}

export interface ReplayGuard {
  /** Refuses a request of `sender` seen before within the window, or stamped outside it. */
  check(sender: string, message: PlainMessage, now?: number): void
}

const DEFAULTS = { windowMs: 10 * 60_000, maxEntries: 100_000 }
/** A created_time past this is in milliseconds (the DIF demo's), not seconds. */
const MILLISECONDS_FROM = 1e11

/**
 * Someone who captured an authcrypted request cannot read it, but could send it again: a
 * `recipient-update` remove after the client added the DID back, a `live-delivery-change` that binds
 * another socket. Each sender's message ids are remembered for a window (bounded in count, keyed by
 * a hash so long DIDs cost nothing extra), and a message stamped outside that window is refused.
 * A message without created_time is protected only while its id is remembered.
 */
export function createReplayGuard (init: ReplayGuardInit = {}): ReplayGuard {
  const { windowMs, maxEntries } = { ...DEFAULTS, ...init }
  // Insertion order is roughly expiry order; pruning from the front is enough to stay bounded.
  const seen = new Map<string, number>()

  function prune (now: number): void {
    for (const [key, until] of seen) {
      if (until > now && seen.size <= maxEntries) break
      seen.delete(key)
    }
  }

  return {
    check (sender, message, now = Date.now()) {
      const stamp = message.created_time
      if (typeof stamp === 'number') {
        const at = stamp > MILLISECONDS_FROM ? stamp : stamp * 1000
        if (Math.abs(now - at) > windowMs) {
          throw new ProblemReportError(PROBLEM.stale, `created_time is more than ${windowMs / 1000} s from this node's clock: send a fresh message`)
        }
      }
      const key = createHash('sha256').update(sender).update('\x00').update(String(message.id)).digest('base64url')
      prune(now)
      if (seen.has(key)) throw new ProblemReportError(PROBLEM.replay, 'this message was received before')
      seen.set(key, now + windowMs)
    }
  }
}
