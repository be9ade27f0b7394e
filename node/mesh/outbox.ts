import type { Logger } from 'pino'
import { ProblemReportError } from '../../protocols/problem-report/error.ts'
import { slots } from '../../storage/concurrency.ts'
import type { OutboxAdded, OutboxEntry, OutboxStore } from '../../storage/store.ts'
import type { DeliveryResult } from './relay.ts'
import type { Route } from './routes.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'

export interface OutboxInit {
  /** First retry delay; it doubles per failed round, with jitter, up to maxDelayMs. */
  baseDelayMs?: number
  maxDelayMs?: number
  /** Tries per message before it is dropped (and its sender told). */
  maxAttempts?: number
  /** Messages in flight at once towards one next hop (a draining hop holds them in memory). */
  window?: number
  /** Hops sending at once: with `window`, what bounds the messages held in memory. */
  concurrentHops?: number
  /** Messages one sender (a client DID or a relaying peer) may have waiting. */
  maxPerSender?: number
  /** Messages waiting in all. */
  maxMessages?: number
  /** Bytes of messages waiting in all. */
  maxBytes?: number
  /** How long a hop's claim on its window keeps other replicas off it (far longer than a relay round). */
  leaseMs?: number
  /**
   * How long the only message for an idle hop waits for the next hop's answer before it is written
   * here (see passThrough); 0: written without waiting for the answer.
   */
  passThroughMs?: number
  /**
   * With replicas sharing the store: how often to read what waits (their work, and what a dead
   * replica let go of) and bring the counts in line. Unset when no other process writes the store.
   */
  rescanMs?: number
}

export interface OutboxComponents {
  store: OutboxStore
  lookup: (did: string) => Promise<Route | undefined>
  forget: (did: string) => void
  send: (route: Route, packed: string) => Promise<DeliveryResult>
  /** Waited for before an entry is sent (a mix node's random delay). */
  hold?: (entry: Pick<OutboxEntry, 'origin'>) => Promise<void>
  /** Tells the entry's origin (a local client) that it was not delivered. */
  report: (entry: OutboxEntry, code: string, comment: string) => Promise<void>
  logger: Logger
}

export interface OutboxStats { depth: number, delivered: number, expired: number, rejected: number, retries: number, exhausted: number }

/** One next hop with messages waiting for it. */
export interface OutboxHop {
  /** The next mediator DID. */
  next: string
  /** The libp2p peer of its last route, when it had one. */
  peer?: string
  waiting: number
  /** Failed rounds in a row: above 0, the hop is backing off. */
  failures: number
  /** Whether a round is under way now. */
  sending: boolean
  /** While it backs off: how soon it is tried again. */
  retryInMs?: number
}

export interface Outbox {
  start(): Promise<void>
  stop(): void
  /**
   * Queues `message` for `next` and tries to deliver it. Resolves once it is on disk here, or, for a
   * hop with nothing else to do, accepted by the next hop (see passThrough); throws a
   * ProblemReportError when a quota is full.
   */
  enqueue(entry: Omit<OutboxEntry, 'id' | 'attempts' | 'size'>): Promise<void>
  /** The libp2p peer `peer` connected: hops waiting for it are tried now, not when their timer fires. */
  retryNow(peer: string): void
  stats(): OutboxStats
  /** Every next hop with messages waiting, most waiting first. */
  hops(): OutboxHop[]
}

interface Hop {
  next: string
  /** While the hop sends: its oldest entries, at most a window of them. Empty while it waits: all wait on disk. */
  window: OutboxEntry[]
  /**
   * Entries this process just wrote for the hop (each claimed by its write, until `leasedUntil`),
   * still in memory for the next window: sent from there, they need not be read back from the store.
   */
  fresh: Array<{ entry: OutboxEntry, leasedUntil: number }>
  /** Entries waiting for this hop (on disk, or being written). */
  count: number
  /** Of those, the ones being written. */
  writing: number
  /** Failed rounds in a row, for the backoff. */
  failures: number
  /** The peer of the hop's last libp2p route: its connecting is worth a retry. */
  peer?: string
  draining: boolean
  /** Woken while draining: look again once done. */
  woken: boolean
  timer?: NodeJS.Timeout
  /** When the timer fires. */
  retryAt?: number
}

const DEFAULTS = { baseDelayMs: 500, maxDelayMs: 3_600_000, maxAttempts: 50, window: 16, concurrentHops: 32, maxPerSender: 1000, maxMessages: 100_000, maxBytes: 1024 ** 3, leaseMs: 30_000, passThroughMs: 50 }

/** `promise`'s value if it settles within `ms`, else undefined (a rejection counts as not settled: the caller awaits it later). */
async function settledWithin<T> (promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, ms) })
  try {
    return await Promise.race([promise.catch(() => undefined), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Store-and-forward towards other mediators: one queue per next hop, oldest first with a window of
 * messages in flight, retried with exponential backoff and jitter (also after a restart), dropped at
 * expiry or after the most attempts, with a problem report to the local client that sent it. Only
 * hops sending now hold messages in memory, a window each, and only `concurrentHops` send at once;
 * quotas per sender and overall (messages and bytes) bound what waits on disk.
 */
export function createOutbox (components: OutboxComponents, init: OutboxInit = {}): Outbox {
  const { store, logger } = components
  const options = { ...DEFAULTS, ...init }
  const hops = new Map<string, Hop>()
  const senders = new Map<string, number>()
  const stats = { delivered: 0, expired: 0, rejected: 0, retries: 0, exhausted: 0 }
  const sending = slots(options.concurrentHops)
  let total = 0
  let totalBytes = 0
  let running = false
  /** Fresh entries of all hops: at most as many as the windows of the hops sending at once. */
  let freshHeld = 0
  const maxFresh = options.window * options.concurrentHops

  function hopFor (next: string): Hop {
    let hop = hops.get(next)
    if (hop === undefined) {
      hop = { next, window: [], fresh: [], count: 0, writing: 0, failures: 0, draining: false, woken: false }
      hops.set(next, hop)
    }
    return hop
  }

  /** Counts a message in before it is written, so that concurrent forwards cannot overshoot a quota. */
  function reserve (sender: string, next: string, size: number): Hop {
    if (total >= options.maxMessages || totalBytes + size > options.maxBytes) throw new ProblemReportError(PROBLEM.quotaOutbox, 'too many messages wait to be relayed by this node; send again later')
    if ((senders.get(sender) ?? 0) >= options.maxPerSender) throw new ProblemReportError(PROBLEM.quotaOrigin, 'too many of your messages wait to be relayed; send again later')
    total++
    totalBytes += size
    senders.set(sender, (senders.get(sender) ?? 0) + 1)
    const hop = hopFor(next)
    hop.count++
    return hop
  }

  function release (sender: string, size: number, hop: Hop): void {
    // Not below zero: with replicas, a recount may already have taken the message off.
    total = Math.max(0, total - 1)
    totalBytes = Math.max(0, totalBytes - size)
    const left = (senders.get(sender) ?? 1) - 1
    if (left > 0) senders.set(sender, left)
    else senders.delete(sender)
    hop.count = Math.max(0, hop.count - 1)
    if (hop.count === 0 && !hop.draining) {
      clearTimeout(hop.timer)
      hops.delete(hop.next)
    }
  }

  /** Keeps a just-written entry in memory for the hop's next window, when there is room for it. */
  function keepFresh (hop: Hop, entry: OutboxEntry): void {
    if (hop.failures > 0 || hop.window.length + hop.fresh.length >= options.window || freshHeld >= maxFresh) return
    hop.fresh.push({ entry, leasedUntil: Date.now() + options.leaseMs })
    freshHeld++
  }

  /** Lets go of the hop's fresh entries, taking up to `count` of them; the rest wait on disk only. */
  function takeFresh (hop: Hop, count = 0): OutboxEntry[] {
    const taken = hop.fresh.slice(0, count).map(fresh => fresh.entry)
    freshHeld -= hop.fresh.length
    hop.fresh = []
    return taken
  }

  /**
   * The hop's next window: straight from memory when every entry waiting for the hop is there (or
   * still being written, which wakes the hop again) and their claims have long enough to run, else
   * claimed from the store (which renews the claims), oldest first.
   */
  async function fillWindow (hop: Hop): Promise<void> {
    const claimsLast = hop.fresh.every(fresh => fresh.leasedUntil - Date.now() > options.leaseMs / 2)
    if (claimsLast && hop.window.length + hop.fresh.length + hop.writing >= hop.count) {
      hop.window.push(...takeFresh(hop, options.window - hop.window.length))
      return
    }
    const claimed = await store.claim(hop.next, options.window, options.leaseMs)
    // The claim got the fresh entries again (they are this process's claims), or left them on disk for later.
    takeFresh(hop)
    hop.window = claimed
  }

  function backoff (failures: number): number {
    const delay = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (failures - 1))
    return delay / 2 + Math.random() * delay / 2
  }

  async function remove (hop: Hop, entry: OutboxEntry): Promise<void> {
    const index = hop.window.indexOf(entry)
    if (index >= 0) hop.window.splice(index, 1)
    await store.remove(entry)
    release(entry.sender, entry.size, hop)
  }

  async function drop (hop: Hop, entry: OutboxEntry, code: string, comment: string): Promise<void> {
    await remove(hop, entry)
    if (entry.origin !== undefined) {
      await components.report(entry, code, comment).catch(err => { logger.warn({ err }, 'could not queue a problem report for an undelivered message') })
    }
  }

  /** Settles one delivery attempt; true when the hop must back off. */
  async function settle (hop: Hop, entry: OutboxEntry, result: DeliveryResult): Promise<boolean> {
    if (result.outcome === 'accepted') {
      // Counted once it is gone, so `delivered` and `depth` never disagree.
      await remove(hop, entry)
      stats.delivered++
      return false
    }
    if (result.outcome === 'rejected') {
      await drop(hop, entry, result.code, result.comment)
      stats.rejected++
      return false
    }
    stats.retries++
    logger.debug({ next: hop.next, reason: result.reason }, 'relay failed; will retry')
    entry.attempts++
    if (entry.attempts >= options.maxAttempts) {
      await drop(hop, entry, PROBLEM.undeliverable, 'not delivered to the next mediator within the attempts allowed')
      stats.exhausted++
    } else {
      await store.attempted(entry)
    }
    return true
  }

  async function drain (hop: Hop): Promise<void> {
    if (!running) return
    if (hop.draining) {
      hop.woken = true
      return
    }
    hop.draining = true
    clearTimeout(hop.timer)
    hop.retryAt = undefined
    const done = await sending()
    try {
      while (running && hop.count > 0) {
        if (hop.window.length < Math.min(options.window, hop.count)) await fillWindow(hop)
        const now = Date.now()
        const expired = hop.window.filter(e => e.expiresAt <= now)
        for (const entry of expired) {
          await drop(hop, entry, PROBLEM.xferExpired, 'not delivered to the next mediator before it expired')
          stats.expired++
        }
        // Up to a window of messages in flight at once on the hop's one connection: a relay's
        // round trip and the receiver's fsync no longer bound the hop to one message per round trip.
        const window = [...hop.window]
        if (window.length === 0) {
          // A window that had all expired: the next ones are on disk.
          if (expired.length > 0) continue
          break
        }
        const route = await routeOf(hop)
        const results = await Promise.all(window.map(async entry => await attempt(route, entry)))
        const retry = (await Promise.all(window.map(async (entry, i) => await settle(hop, entry, results[i] as DeliveryResult)))).some(Boolean)
        if (!retry) {
          hop.failures = 0
          continue
        }
        backOff(hop, Math.min(...hop.window.map(e => e.expiresAt)))
        return
      }
      // Nothing left to back off for: a message still being written wakes the hop at once.
      hop.failures = 0
      if (hop.count === 0) hops.delete(hop.next)
    } catch (err) {
      hop.window = []
      takeFresh(hop)
      // Stopped meanwhile (the store closed under it): nothing failed, and nothing is to be tried again.
      if (!running) return
      logger.error({ err, next: hop.next }, 'outbox drain failed')
      // Backed off as a failed round, not for the longest delay: an hour without relaying over one error.
      hop.failures++
      wakeLater(hop, backoff(hop.failures))
    } finally {
      done()
      hop.draining = false
      // A message queued while the last look at the disk was under way: look again (not during a backoff).
      if (hop.woken && hop.failures === 0) void drain(hop)
      hop.woken = false
    }
  }

  /** The hop's route now; its libp2p peer is remembered, since that peer's connecting is worth a retry. */
  async function routeOf (hop: Hop): Promise<Route | undefined> {
    const route = await components.lookup(hop.next)
    hop.peer = route?.kind === 'libp2p' ? route.peerId.toString() : undefined
    return route
  }

  /** One delivery attempt of `entry` along `route` (after a mix node's hold); without a route, one to retry. */
  async function attempt (route: Route | undefined, entry: Pick<OutboxEntry, 'message' | 'origin'>): Promise<DeliveryResult> {
    if (route === undefined) return { outcome: 'retry', reason: 'no route' }
    await components.hold?.(entry)
    return await components.send(route, entry.message)
  }

  /** After a failed round: the hop forgets its route and waits, at most until `soonest` (its next expiry). */
  function backOff (hop: Hop, soonest = Infinity): void {
    hop.failures++
    components.forget(hop.next)
    // A hop waiting to retry holds nothing in memory: it reads its window again when it wakes.
    hop.window = []
    takeFresh(hop)
    wakeLater(hop, Math.min(backoff(hop.failures), Math.max(0, soonest - Date.now())))
  }

  /**
   * Pass-through: the only message for an idle hop goes out at once, and if the next hop accepts it
   * within `passThroughMs` it is never written here. The next hop has it durably by then, and the
   * previous hop, answered only now, held it until then: at least once holds with one fsync per
   * path instead of one per hop (on a mix path, each hop's fsync was on the next one's way). Else it
   * is written, the previous hop answered once that is durable, and the entry settled with the next
   * hop's answer when it comes: what was not accepted waits on disk for the hop's rounds. A process
   * that dies before either gets the message again from the previous hop; the next hop deduplicates.
   * Resolves once the message is accepted downstream or durable here.
   */
  function passThrough (hop: Hop, fields: Omit<OutboxEntry, 'id' | 'attempts'>): Promise<void> {
    const answered = Promise.withResolvers<void>()
    let settled = false
    const answer = (err?: unknown): void => {
      settled = true
      if (err === undefined) answered.resolve()
      else answered.reject(err)
    }
    hop.draining = true
    void (async () => {
      const done = await sending()
      let retry = false
      try {
        // The route lookup too is within the wait: a DHT search for a hop that is down takes seconds.
        const sent = (async () => await attempt(await routeOf(hop), fields))()
        const early = await settledWithin(sent, options.passThroughMs)
        if (early?.outcome === 'accepted') {
          release(fields.sender, fields.size, hop)
          stats.delivered++
          answer()
          return
        }
        hop.writing++
        const added = await store.add(fields, options.leaseMs).finally(() => { hop.writing-- })
        answer()
        // A duplicate is another entry's message: that entry is sent and settled in its own round.
        if (added.duplicate) release(fields.sender, fields.size, hop)
        else {
          const result = await sent
          if (running) retry = await settle(hop, added.entry, result)
        }
      } catch (err) {
        if (!settled) {
          // Neither accepted nor written: the previous hop is told, and sends it again.
          release(fields.sender, fields.size, hop)
          answer(err)
        } else if (running) logger.warn({ err, next: hop.next }, 'relaying failed; what is on disk goes in a later round')
      } finally {
        done()
        hop.draining = false
        if (retry) backOff(hop)
        else if (hop.count > 0) void drain(hop)
        else hops.delete(hop.next)
        hop.woken = false
      }
    })()
    return answered.promise
  }

  /** Drains `hop` again in `ms`, unless the outbox was stopped meanwhile: a stopped node keeps no timer alive. */
  function wakeLater (hop: Hop, ms: number): void {
    if (!running) return
    hop.timer = setTimeout(() => { void drain(hop) }, ms)
    hop.retryAt = Date.now() + ms
  }

  /**
   * Counts what waits on disk, per hop and sender, and drains every hop that is not busy or backing
   * off. At start, that is the work left by the last run; with replicas, also theirs.
   */
  async function recount (): Promise<void> {
    const counts = await store.counts()
    senders.clear()
    for (const [sender, count] of counts.senders) senders.set(sender, count)
    total = [...counts.hops.values()].reduce((n, count) => n + count, 0)
    totalBytes = counts.bytes
    for (const hop of hops.values()) {
      if (counts.hops.has(hop.next) || hop.draining) continue
      clearTimeout(hop.timer)
      takeFresh(hop)
      hops.delete(hop.next)
    }
    for (const [next, count] of counts.hops) {
      const hop = hopFor(next)
      hop.count = count
      if (!hop.draining && hop.failures === 0) void drain(hop)
    }
  }

  let rescanTimer: NodeJS.Timeout | undefined

  return {
    async start () {
      running = true
      await recount()
      if (options.rescanMs !== undefined) {
        rescanTimer = setInterval(() => { recount().catch(err => { logger.warn({ err }, 'outbox rescan failed') }) }, options.rescanMs)
        rescanTimer.unref()
      }
    },

    stop () {
      running = false
      clearInterval(rescanTimer)
      for (const hop of hops.values()) clearTimeout(hop.timer)
    },

    async enqueue (fields) {
      const size = Buffer.byteLength(fields.message)
      const hop = reserve(fields.sender, fields.next, size)
      // Nothing else waits for the hop, and it is neither sending nor backing off.
      if (running && hop.count === 1 && !hop.draining && hop.failures === 0 && fields.expiresAt > Date.now()) {
        await passThrough(hop, { ...fields, size })
        return
      }
      let added: OutboxAdded = { duplicate: true }
      hop.writing++
      try {
        added = await store.add({ ...fields, size }, options.leaseMs)
      } finally {
        hop.writing--
        if (added.duplicate) release(fields.sender, size, hop)
      }
      // A hop backing off is not tried sooner because more messages arrive for it.
      if (added.duplicate || hop.failures > 0 || !running) return
      keepFresh(hop, added.entry)
      void drain(hop)
    },

    retryNow (peer) {
      for (const hop of hops.values()) if (hop.peer === peer && !hop.draining && hop.failures > 0) void drain(hop)
    },

    stats: () => ({ depth: total, ...stats }),

    hops: () => [...hops.values()]
      .filter(hop => hop.count > 0)
      .map(hop => ({
        next: hop.next,
        waiting: hop.count,
        failures: hop.failures,
        sending: hop.draining,
        ...(hop.peer === undefined ? {} : { peer: hop.peer }),
        ...(hop.retryAt === undefined || hop.draining ? {} : { retryInMs: Math.max(0, hop.retryAt - Date.now()) })
      }))
      .sort((a, b) => b.waiting - a.waiting)
  }
}
