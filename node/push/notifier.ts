import type { Logger } from 'pino'
import { slots } from '../../storage/concurrency.ts'
import { clientKey } from '../../storage/store.ts'
import type { PushDevices, PushRegistration } from '../../storage/store.ts'
import type { NodeMetrics } from '../metrics.ts'
import type { PushOutcome } from './wire.ts'

export interface PushNotifierComponents {
  devices: Pick<PushDevices, 'list' | 'remove'>
  /** Sends one push to one device. */
  send: (device: PushRegistration) => Promise<PushOutcome>
  /** Whether the client has a live socket now: it needs no push. */
  live: (client: string) => boolean
  /** Whether messages still wait for the client: the push at the end of an interval is sent only then. */
  waiting: (client: string) => Promise<boolean>
  logger: Logger
  metrics?: Pick<NodeMetrics, 'pushed' | 'pushCoalesced' | 'pushFailed' | 'pushRegistrations'>
}

/** Why a push was not delivered: the device is gone (its registration removed), refused for good, unreachable after every try, not an allowed endpoint, or dropped because too much push work waited. */
export type PushFailure = 'gone' | 'rejected' | 'unreachable' | 'not-allowed' | 'overflow'

export interface PushNotifierInit {
  /** At most one push per device per interval. */
  intervalMs: number
  /** Tries of one push that the push service or gateway asks to repeat (unreachable, busy). */
  maxAttempts: number
  /** Pushes queued, waiting for a retry or in flight, in all. */
  queueMax: number
  /** First retry delay; it doubles, with jitter, up to retryMaxMs. */
  retryBaseMs?: number
  retryMaxMs?: number
  /** Pushes in flight at once. */
  concurrency?: number
}

export interface PushNotifier {
  /** Messages were queued for `client`, which has no live socket: wake its devices. Never waits, never throws. */
  wake(client: string): void
  stop(): void
}

interface Interval {
  until: number
  /** Whether the client had devices to push to when the interval opened (undefined: still reading them). */
  devices?: boolean
  /** Wake-ups while its devices were still being read. */
  early: number
  /** Messages arrived during the interval: one more push at its end, if they still wait. */
  trailing?: ReturnType<typeof setTimeout>
}

/**
 * Wakes sleeping wallets. A client's devices get one push at once, then none for an interval: what
 * arrives meanwhile is told by one push at the interval's end, unless the wallet came online or
 * collected it. Pushes run a few at a time off the message's path (a slow or failing push service
 * delays no forward and loses no message), are retried with backoff a bounded number of times, and
 * a device its service calls gone (404, 410) is forgotten. Work waiting is bounded: past queueMax a
 * wake-up is dropped and counted.
 */
export function createPushNotifier (components: PushNotifierComponents, init: PushNotifierInit): PushNotifier {
  const { devices, send, logger, metrics } = components
  const retryBaseMs = init.retryBaseMs ?? 1000
  const retryMaxMs = init.retryMaxMs ?? 60_000
  const slot = slots(init.concurrency ?? 8)
  // Clients pushed within the last interval, by clientKey (short, whatever the DID's length); entries
  // go when it ends, so there is at most one per client holding mediation.
  const intervals = new Map<string, Interval>()
  const retries = new Set<ReturnType<typeof setTimeout>>()
  let pending = 0
  let stopped = false

  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [client, interval] of intervals) if (interval.until <= now && interval.trailing === undefined) intervals.delete(client)
  }, init.intervalMs)
  sweeper.unref()

  function finish (device: PushRegistration, outcome: PushOutcome, attempt: number): void {
    if (outcome === 'sent') {
      metrics?.pushed(device.kind)
      pending--
      return
    }
    if (outcome === 'retry' && attempt + 1 < init.maxAttempts && !stopped) {
      const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2)
      const timer = setTimeout(() => {
        retries.delete(timer)
        void deliver(device, attempt + 1)
      }, delay)
      retries.add(timer)
      return
    }
    pending--
    const reason: PushFailure = outcome === 'retry' ? 'unreachable' : outcome
    metrics?.pushFailed(reason)
    logger.debug({ kind: device.kind, reason, attempts: attempt + 1 }, 'push not delivered')
    if (outcome === 'gone') {
      devices.remove(device.id)
        .then(removed => { if (removed) metrics?.pushRegistrations(device.kind, 'removed', 1) })
        .catch(err => { logger.warn({ err }, 'removing a gone push registration failed') })
    }
  }

  async function deliver (device: PushRegistration, attempt: number): Promise<void> {
    const release = await slot()
    if (stopped) {
      release()
      return
    }
    let outcome: PushOutcome
    try {
      outcome = await send(device)
    } catch (err) {
      logger.warn({ err }, 'push failed')
      outcome = 'retry'
    } finally {
      release()
    }
    finish(device, outcome, attempt)
  }

  /** Pushes every device of the client now, and opens its interval. */
  async function pushAll (client: string): Promise<void> {
    const interval: Interval = { until: Date.now() + init.intervalMs, early: 0 }
    intervals.set(clientKey(client), interval)
    // Reading the devices is push work too: a flood of wake-ups for many clients must not pile up reads.
    pending++
    let found: PushRegistration[]
    try {
      found = await devices.list(client)
    } finally {
      pending--
    }
    interval.devices = found.length > 0
    for (; interval.early > 0; interval.early--) fold(client, interval)
    for (const device of found) {
      if (pending >= init.queueMax) {
        metrics?.pushFailed('overflow')
        continue
      }
      pending++
      void deliver(device, 0)
    }
  }

  /** A wake-up within the client's interval: one more push at its end. */
  function fold (client: string, interval: Interval): void {
    // A read that finishes after stop() must not start a timer that keeps the process alive.
    if (stopped) return
    if (interval.devices === undefined) {
      interval.early++
      return
    }
    // A client without devices has nothing to fold (nor to read again until the interval ends).
    if (!interval.devices) return
    metrics?.pushCoalesced()
    interval.trailing ??= setTimeout(() => { trailing(client, interval).catch(fail) }, Math.max(0, interval.until - Date.now()))
  }

  function fail (err: unknown): void {
    logger.warn({ err }, 'push wake-up failed')
  }

  /**
   * The interval's end, for a client whose messages arrived during it: one push if they still wait
   * and it is not live. Wake-ups during the check are held (as while devices are read), so they
   * neither start a push of their own nor go unanswered.
   */
  async function trailing (client: string, interval: Interval): Promise<void> {
    const key = clientKey(client)
    if (stopped || intervals.get(key) !== interval) return
    interval.devices = undefined
    try {
      const needed = !components.live(client) && await components.waiting(client)
      if (stopped || intervals.get(key) !== interval) return
      if (needed || interval.early > 0) await pushAll(client)
      else intervals.delete(key)
    } catch (err) {
      // The store failed: this interval must not stay open for good, folding every later wake-up.
      if (intervals.get(key) === interval) intervals.delete(key)
      throw err
    }
  }

  return {
    wake (client) {
      if (stopped) return
      const interval = intervals.get(clientKey(client))
      // An interval that ended with its push at the end still due is the trailing push's to answer.
      if (interval === undefined || (interval.until <= Date.now() && interval.trailing === undefined)) {
        if (pending >= init.queueMax) {
          metrics?.pushFailed('overflow')
          return
        }
        pushAll(client).catch(fail)
        return
      }
      fold(client, interval)
    },

    stop () {
      stopped = true
      clearInterval(sweeper)
      for (const timer of retries) clearTimeout(timer)
      for (const interval of intervals.values()) if (interval.trailing !== undefined) clearTimeout(interval.trailing)
      retries.clear()
      intervals.clear()
    }
  }
}
