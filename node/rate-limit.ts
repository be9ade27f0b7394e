import type { NodeMetrics } from './metrics.ts'

/**
 * Requests a second per source (an IP address over HTTP and WebSocket, a peer over libp2p), as
 * token buckets: up to `burst` at once, refilled at `perSecond`. Buckets are kept for the most
 * recently seen `maxSources`, so a flood of new addresses cannot grow memory without bound.
 */
export interface RateLimiter {
  /** Takes one token from `source`'s bucket; false when it is empty. */
  allow(source: string): boolean
}

export interface RateLimitInit {
  /** 0 turns limiting off. */
  perSecond: number
  burst: number
  maxSources?: number
  /** Counts refusals (in one number: sources never become labels). */
  metrics?: Pick<NodeMetrics, 'rateLimited'>
}

interface Bucket { tokens: number, at: number }

export function createRateLimiter (init: RateLimitInit, now: () => number = () => performance.now()): RateLimiter {
  const maxSources = init.maxSources ?? 100_000
  const buckets = new Map<string, Bucket>()
  if (init.perSecond <= 0) return { allow: () => true }
  return {
    allow (source) {
      const time = now()
      const bucket = buckets.get(source) ?? { tokens: init.burst, at: time }
      // Re-inserted on every use: the Map's order is then least recently used first.
      buckets.delete(source)
      bucket.tokens = Math.min(init.burst, bucket.tokens + (time - bucket.at) * init.perSecond / 1000)
      bucket.at = time
      const allowed = bucket.tokens >= 1
      if (allowed) bucket.tokens -= 1
      buckets.set(source, bucket)
      if (buckets.size > maxSources) buckets.delete(buckets.keys().next().value as string)
      if (!allowed) init.metrics?.rateLimited()
      return allowed
    }
  }
}
