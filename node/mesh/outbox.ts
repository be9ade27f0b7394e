import type { Logger } from 'pino'
import type { OutboxEntry, OutboxStore } from '../../storage/outbox.ts'
import type { DeliveryResult } from './relay.ts'
import type { Route } from './routes.ts'

export interface OutboxInit {
  /** First retry delay; it doubles per failed attempt, with jitter. */
  baseDelayMs?: number
  maxDelayMs?: number
  /** Messages in flight at once towards one next hop. */
  window?: number
}

export interface OutboxComponents {
  store: OutboxStore
  lookup: (did: string) => Promise<Route | undefined>
  forget: (did: string) => void
  send: (route: Route, packed: string) => Promise<DeliveryResult>
  /** Tells the entry's origin (a local client) that it was not delivered. */
  report: (entry: OutboxEntry, code: string, comment: string) => Promise<void>
  logger: Logger
}

export interface OutboxStats { depth: number, delivered: number, expired: number, rejected: number, retries: number }

export interface Outbox {
  start(): Promise<void>
  stop(): void
  /** Durably queues `message` for `next`, then tries to deliver it. Resolves once it is on disk. */
  enqueue(entry: Omit<OutboxEntry, 'id'>): Promise<void>
  /** A peer connected: hops waiting for a retry are tried now, not when their timer fires. */
  retryNow(): void
  stats(): OutboxStats
}

interface Hop {
  next: string
  entries: OutboxEntry[]
  attempts: number
  draining: boolean
  timer?: NodeJS.Timeout
}

const DEFAULTS = { baseDelayMs: 500, maxDelayMs: 60_000, window: 16 }

/**
 * Store-and-forward towards other mediators: one queue per next hop, oldest first with a window of
 * messages in flight, retried with exponential backoff and jitter (also after a restart), dropped at
 * expiry with a problem report to the local client that sent it.
 */
export function createOutbox (components: OutboxComponents, init: OutboxInit = {}): Outbox {
  const { store, logger } = components
  const options = { ...DEFAULTS, ...init }
  const hops = new Map<string, Hop>()
  const stats = { delivered: 0, expired: 0, rejected: 0, retries: 0 }
  let running = false

  function hopFor (next: string): Hop {
    let hop = hops.get(next)
    if (hop === undefined) {
      hop = { next, entries: [], attempts: 0, draining: false }
      hops.set(next, hop)
    }
    return hop
  }

  function backoff (attempts: number): number {
    const delay = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempts - 1))
    return delay / 2 + Math.random() * delay / 2
  }

  function remove (hop: Hop, entry: OutboxEntry): void {
    const index = hop.entries.indexOf(entry)
    if (index >= 0) hop.entries.splice(index, 1)
  }

  async function drop (hop: Hop, entry: OutboxEntry, code: string, comment: string): Promise<void> {
    remove(hop, entry)
    await store.remove(entry)
    if (entry.origin !== undefined) {
      await components.report(entry, code, comment).catch(err => { logger.warn({ err }, 'could not queue a problem report for an undelivered message') })
    }
  }

  /** Settles one delivery attempt; true when the hop must back off. */
  async function settle (hop: Hop, entry: OutboxEntry, result: DeliveryResult): Promise<boolean> {
    if (result.outcome === 'accepted') {
      stats.delivered++
      remove(hop, entry)
      await store.remove(entry)
      return false
    }
    if (result.outcome === 'rejected') {
      stats.rejected++
      await drop(hop, entry, result.code, result.comment)
      return false
    }
    stats.retries++
    logger.debug({ next: hop.next, reason: result.reason }, 'relay failed; will retry')
    return true
  }

  async function drain (hop: Hop): Promise<void> {
    if (hop.draining || !running) return
    hop.draining = true
    clearTimeout(hop.timer)
    try {
      while (running && hop.entries.length > 0) {
        const now = Date.now()
        for (const entry of hop.entries.filter(e => e.expiresAt <= now)) {
          stats.expired++
          await drop(hop, entry, 'e.p.xfer.expired', 'not delivered to the next mediator before it expired')
        }
        // Up to a window of messages in flight at once on the hop's one connection: a relay's
        // round trip and the receiver's fsync no longer bound the hop to one message per round trip.
        const window = hop.entries.slice(0, options.window)
        if (window.length === 0) break
        const route = await components.lookup(hop.next)
        const results: DeliveryResult[] = route === undefined
          ? window.map(() => ({ outcome: 'retry', reason: 'no route' }))
          : await Promise.all(window.map(async entry => await components.send(route, entry.message)))
        const retry = (await Promise.all(window.map(async (entry, i) => await settle(hop, entry, results[i] as DeliveryResult)))).some(Boolean)
        if (!retry) {
          hop.attempts = 0
          continue
        }
        hop.attempts++
        components.forget(hop.next)
        const soonest = Math.min(...hop.entries.map(e => e.expiresAt))
        hop.timer = setTimeout(() => { void drain(hop) }, Math.min(backoff(hop.attempts), Math.max(0, soonest - Date.now())))
        return
      }
      if (hop.entries.length === 0) hops.delete(hop.next)
    } catch (err) {
      logger.error({ err, next: hop.next }, 'outbox drain failed')
      hop.timer = setTimeout(() => { void drain(hop) }, options.maxDelayMs)
    } finally {
      hop.draining = false
    }
  }

  return {
    async start () {
      running = true
      for (const entry of await store.all()) hopFor(entry.next).entries.push(entry)
      for (const hop of hops.values()) void drain(hop)
    },

    stop () {
      running = false
      for (const hop of hops.values()) clearTimeout(hop.timer)
    },

    async enqueue (fields) {
      const { entry, duplicate } = await store.add(fields)
      if (duplicate) return
      const hop = hopFor(entry.next)
      hop.entries.push(entry)
      void drain(hop)
    },

    retryNow () {
      for (const hop of hops.values()) if (!hop.draining && hop.attempts > 0) void drain(hop)
    },

    stats: () => ({ depth: [...hops.values()].reduce((n, hop) => n + hop.entries.length, 0), ...stats })
  }
}
