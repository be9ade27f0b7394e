import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PeerId } from '@libp2p/interface'
import { pino } from 'pino'
import { createOutbox } from '../../node/mesh/outbox.ts'
import { httpStatusOf } from '../../node/transports/http.ts'
import type { OutboxInit } from '../../node/mesh/outbox.ts'
import type { DeliveryResult } from '../../node/mesh/relay.ts'
import type { Route } from '../../node/mesh/routes.ts'
import { ProblemReportError } from '../../protocols/problem-report/error.ts'
import { contentHash } from '../../storage/store.ts'
import type { OutboxEntry, OutboxStore } from '../../storage/store.ts'

const logger = pino({ level: 'silent' })

/** An in-memory OutboxStore with the interface's semantics: dedupe per (next, message), oldest first per hop. */
function memoryStore (): OutboxStore & { held: Map<string, OutboxEntry> } {
  const held = new Map<string, OutboxEntry>()
  const key = (e: Pick<OutboxEntry, 'next' | 'id'>): string => e.next + '\x00' + e.id
  return {
    held,
    async add (fields) {
      const entry: OutboxEntry = { id: contentHash(fields.message), attempts: 0, ...fields }
      if (held.has(key(entry))) return { duplicate: true }
      held.set(key(entry), entry)
      return { duplicate: false, entry: { ...entry } }
    },
    async remove (entry) { held.delete(key(entry)) },
    async attempted (entry) {
      const stored = held.get(key(entry))
      if (stored !== undefined) stored.attempts = entry.attempts
    },
    async claim (next, limit) {
      return [...held.values()].filter(e => e.next === next).sort((a, b) => a.enqueuedAt - b.enqueuedAt).slice(0, limit).map(e => ({ ...e }))
    },
    async counts () {
      const hops = new Map<string, number>()
      const senders = new Map<string, number>()
      let bytes = 0
      for (const e of held.values()) {
        hops.set(e.next, (hops.get(e.next) ?? 0) + 1)
        senders.set(e.sender, (senders.get(e.sender) ?? 0) + 1)
        bytes += e.size
      }
      return { hops, senders, bytes }
    },
    async * entries () { yield * held.values() }
  }
}

/** A memoryStore whose each write waits until the test lets it reach the disk (calls the next of `writes`). */
function slowDiskStore (): { store: ReturnType<typeof memoryStore>, writes: Array<() => void> } {
  const store = memoryStore()
  const add = store.add.bind(store)
  const writes: Array<() => void> = []
  store.add = async (...args) => { await new Promise<void>(resolve => writes.push(resolve)); return await add(...args) }
  return { store, writes }
}

/** Polls (on the event loop, no fixed sleeps) until `check` holds. */
async function until (check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 1))
  }
}

const fakePeer = (id: string): PeerId => ({ toString: () => id }) as unknown as PeerId
const peerRoute = (id: string): Route => ({ kind: 'libp2p', peerId: fakePeer(id) })

interface Harness {
  store: ReturnType<typeof memoryStore>
  sends: Array<{ route: Route, message: string }>
  reports: Array<{ entry: OutboxEntry, code: string, comment: string }>
  forgotten: string[]
  outbox: ReturnType<typeof createOutbox>
}

function harness (opts: {
  send?: (route: Route, message: string) => Promise<DeliveryResult>
  lookup?: (did: string) => Promise<Route | undefined>
  store?: ReturnType<typeof memoryStore>
  init?: OutboxInit
} = {}): Harness {
  const store = opts.store ?? memoryStore()
  const sends: Harness['sends'] = []
  const reports: Harness['reports'] = []
  const forgotten: string[] = []
  const outbox = createOutbox({
    store,
    lookup: opts.lookup ?? (async () => peerRoute('peer-1')),
    forget: did => { forgotten.push(did) },
    send: async (route, message) => {
      sends.push({ route, message })
      return await (opts.send ?? (async () => ({ outcome: 'accepted' }) as const))(route, message)
    },
    report: async (entry, code, comment) => { reports.push({ entry, code, comment }) },
    logger
  }, { baseDelayMs: 1, maxDelayMs: 2, ...opts.init })
  return { store, sends, reports, forgotten, outbox }
}

const HOUR = 3_600_000
function fields (message: string, over: Partial<OutboxEntry> = {}): Omit<OutboxEntry, 'id' | 'attempts' | 'size'> {
  return { next: 'did:ex:next', message, enqueuedAt: Date.now(), expiresAt: Date.now() + HOUR, sender: 'did:ex:client', origin: 'did:ex:client', thid: 'thread-1', ...over }
}

describe('outbox', () => {
  it('delivers an accepted message once and forgets it', async () => {
    const h = harness()
    await h.outbox.start()
    await h.outbox.enqueue(fields('hello'))
    await until(() => h.outbox.stats().delivered === 1, 'delivery')
    assert.equal(h.sends.length, 1)
    assert.equal(h.sends[0]?.message, 'hello')
    assert.equal(h.sends[0]?.route.kind, 'libp2p')
    assert.equal(h.store.held.size, 0)
    assert.deepEqual(h.outbox.stats(), { depth: 0, delivered: 1, expired: 0, rejected: 0, retries: 0, exhausted: 0 })
    assert.deepEqual(h.reports, [])
    h.outbox.stop()
  })

  it('a send still in flight when the outbox stops schedules no retry: a stopped node keeps no timer alive', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length
    for (const outcome of ['retry', 'throw'] as const) {
      let answer: (() => void) | undefined
      const h = harness({
        init: { maxDelayMs: HOUR },
        send: async () => {
          await new Promise<void>(resolve => { answer = resolve })
          if (outcome === 'throw') throw new Error('the store closed under it')
          return { outcome: 'retry', reason: 'next hop down' }
        }
      })
      await h.outbox.start()
      await h.outbox.enqueue(fields(`in flight (${outcome})`))
      await until(() => answer !== undefined, 'the send to start')
      const before = timers()
      h.outbox.stop()
      answer?.()
      await new Promise(resolve => setImmediate(resolve))
      await new Promise(resolve => setImmediate(resolve))
      assert.ok(timers() <= before, `${outcome}: no timer left after stop (${before} before, ${timers()} after)`)
    }
  })

  it('a duplicate enqueue is kept once and not counted twice', async () => {
    const h = harness()
    // Not started: nothing drains, the queue only fills.
    await h.outbox.enqueue(fields('same'))
    await h.outbox.enqueue(fields('same'))
    assert.equal(h.outbox.stats().depth, 1)
    assert.equal(h.store.held.size, 1)
    h.outbox.stop()
  })

  it('a rejected message is dropped and its origin told with the receiver\'s code; one without origin is dropped silently', async () => {
    const h = harness({ send: async () => ({ outcome: 'rejected', code: 'e.p.req.destination-not-allowed', comment: 'no' }) })
    await h.outbox.start()
    await h.outbox.enqueue(fields('refused'))
    await h.outbox.enqueue(fields('refused, anonymous', { origin: undefined, sender: 'peer-x' }))
    await until(() => h.outbox.stats().rejected === 2, 'rejections')
    assert.equal(h.sends.length, 2, 'a rejection is not retried')
    assert.equal(h.reports.length, 1)
    assert.equal(h.reports[0]?.code, 'e.p.req.destination-not-allowed')
    assert.equal(h.reports[0]?.comment, 'no')
    assert.equal(h.reports[0]?.entry.message, 'refused')
    assert.equal(h.reports[0]?.entry.thid, 'thread-1')
    assert.equal(h.outbox.stats().depth, 0)
    assert.equal(h.store.held.size, 0)
    h.outbox.stop()
  })

  it('retries with backoff, forgetting the route, until maxAttempts, then reports e.p.xfer.undeliverable', async () => {
    const h = harness({ send: async () => ({ outcome: 'retry', reason: 'down' }), init: { maxAttempts: 3 } })
    await h.outbox.start()
    await h.outbox.enqueue(fields('doomed'))
    await until(() => h.outbox.stats().exhausted === 1, 'exhaustion')
    assert.equal(h.sends.length, 3)
    assert.equal(h.outbox.stats().retries, 3)
    assert.equal(h.outbox.stats().depth, 0)
    assert.deepEqual(h.forgotten, ['did:ex:next', 'did:ex:next', 'did:ex:next'])
    assert.equal(h.reports.length, 1)
    assert.equal(h.reports[0]?.code, 'e.p.xfer.undeliverable')
    assert.equal(h.store.held.size, 0)
    h.outbox.stop()
  })

  it('records attempts in the store between retries, and succeeds after transient failures', async () => {
    let failures = 2
    const attempts: number[] = []
    const store = memoryStore()
    const h = harness({
      store,
      send: async () => {
        attempts.push([...store.held.values()][0]?.attempts ?? -1)
        return failures-- > 0 ? { outcome: 'retry', reason: 'busy' } : { outcome: 'accepted' }
      }
    })
    await h.outbox.start()
    await h.outbox.enqueue(fields('eventually'))
    await until(() => h.outbox.stats().delivered === 1, 'delivery after retries')
    assert.deepEqual(attempts, [-1, 1, 2], 'the first try before it was written (pass-through), then as recorded')
    assert.equal(h.outbox.stats().retries, 2)
    assert.equal(h.outbox.stats().exhausted, 0)
    assert.deepEqual(h.reports, [])
    h.outbox.stop()
  })

  it('no route counts as a failed attempt without sending', async () => {
    const h = harness({ lookup: async () => undefined, init: { maxAttempts: 2 } })
    await h.outbox.start()
    await h.outbox.enqueue(fields('nowhere'))
    await until(() => h.outbox.stats().exhausted === 1, 'exhaustion')
    assert.equal(h.sends.length, 0)
    assert.equal(h.reports[0]?.code, 'e.p.xfer.undeliverable')
    h.outbox.stop()
  })

  it('drops an expired message unsent with e.p.xfer.expired, and goes on to the live entries behind a wholly expired window', async () => {
    const store = memoryStore()
    const past = Date.now() - 1000
    // Two expired entries fill the first window of 2; a live one waits behind them.
    await store.add({ ...fields('old-1', { enqueuedAt: 1, expiresAt: past }), size: 5 })
    await store.add({ ...fields('old-2', { enqueuedAt: 2, expiresAt: past }), size: 5 })
    await store.add({ ...fields('fresh', { enqueuedAt: 3 }), size: 5 })
    const h = harness({ store, init: { window: 2 } })
    await h.outbox.start()
    await until(() => h.outbox.stats().delivered === 1, 'the live entry behind the expired window')
    assert.deepEqual(h.sends.map(s => s.message), ['fresh'])
    assert.equal(h.outbox.stats().expired, 2)
    assert.deepEqual(h.reports.map(r => [r.entry.message, r.code]), [['old-1', 'e.p.xfer.expired'], ['old-2', 'e.p.xfer.expired']])
    assert.equal(h.outbox.stats().depth, 0)
    h.outbox.stop()
  })

  it('keeps at most `window` sends in flight towards one hop, and still delivers them all', async () => {
    const pending: Array<(r: DeliveryResult) => void> = []
    let inFlight = 0
    let maxInFlight = 0
    const h = harness({
      init: { window: 2 },
      send: async () => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        const result = await new Promise<DeliveryResult>(resolve => pending.push(resolve))
        inFlight--
        return result
      }
    })
    for (let i = 0; i < 5; i++) await h.outbox.enqueue(fields(`m${i}`, { enqueuedAt: i + 1 }))
    await h.outbox.start()
    while (h.outbox.stats().delivered < 5) {
      await until(() => pending.length > 0 || h.outbox.stats().delivered === 5, 'a send')
      // Let every send the outbox is willing to start start, then check the window held.
      await new Promise(resolve => setTimeout(resolve, 2))
      assert.ok(inFlight <= 2, `in flight ${inFlight}`)
      for (const resolve of pending.splice(0)) resolve({ outcome: 'accepted' })
      await new Promise(resolve => setTimeout(resolve, 1))
    }
    assert.equal(maxInFlight, 2, 'the window is used, and never exceeded')
    assert.deepEqual(h.sends.map(s => s.message), ['m0', 'm1', 'm2', 'm3', 'm4'], 'oldest first')
    h.outbox.stop()
  })

  it('sends a message it just wrote from memory, not read back; one beyond the window waits on disk and is claimed in turn', async () => {
    const store = memoryStore()
    const claim = store.claim.bind(store)
    let claims = 0
    store.claim = async (...args) => { claims++; return await claim(...args) }
    const pending: Array<(r: DeliveryResult) => void> = []
    const h = harness({ store, init: { window: 1 }, send: async () => await new Promise<DeliveryResult>(resolve => pending.push(resolve)) })
    await h.outbox.start()
    await h.outbox.enqueue(fields('first', { enqueuedAt: 1 }))
    await until(() => pending.length === 1, 'the first send')
    assert.equal(claims, 0, 'the idle hop sent the entry it had just written')
    // The window (1) is full: these two wait on disk only.
    await h.outbox.enqueue(fields('second', { enqueuedAt: 2 }))
    await h.outbox.enqueue(fields('third', { enqueuedAt: 3 }))
    while (h.outbox.stats().delivered < 3) {
      await until(() => pending.length > 0, 'a send')
      pending.shift()?.({ outcome: 'accepted' })
      await until(() => pending.length > 0 || h.outbox.stats().delivered === 3, 'the next send or the end')
    }
    assert.deepEqual(h.sends.map(s => s.message), ['first', 'second', 'third'], 'oldest first')
    assert.equal(claims, 2, 'read back from the store, one window at a time')
    assert.equal(store.held.size, 0)
    h.outbox.stop()
  })

  it('pass-through: an idle hop\'s message the next hop accepts at once is never written here; the previous hop is answered once it is accepted', async () => {
    const store = memoryStore()
    let writes = 0
    const add = store.add.bind(store)
    store.add = async (...args) => { writes++; return await add(...args) }
    let accept: ((result: DeliveryResult) => void) | undefined
    const h = harness({ store, send: async () => await new Promise<DeliveryResult>(resolve => { accept = resolve }) })
    await h.outbox.start()
    let answered = false
    const enqueued = h.outbox.enqueue(fields('passed through')).then(() => { answered = true })
    await until(() => accept !== undefined, 'the send')
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(answered, false, 'not answered before the next hop')
    accept?.({ outcome: 'accepted' })
    await enqueued
    assert.equal(writes, 0, 'never written')
    assert.deepEqual(h.outbox.stats(), { depth: 0, delivered: 1, expired: 0, rejected: 0, retries: 0, exhausted: 0 })
    assert.deepEqual(h.outbox.hops(), [])
    h.outbox.stop()
  })

  it('pass-through: a next hop slower than passThroughMs: the message is written, the previous hop answered once it is durable, and the entry settled with the late answer', async () => {
    const { store, writes } = slowDiskStore()
    let accept: ((result: DeliveryResult) => void) | undefined
    const h = harness({ store, init: { passThroughMs: 10 }, send: async () => await new Promise<DeliveryResult>(resolve => { accept = resolve }) })
    await h.outbox.start()
    let answered = false
    const enqueued = h.outbox.enqueue(fields('slow next hop')).then(() => { answered = true })
    await until(() => writes.length === 1, 'the write, once the next hop did not answer in time')
    assert.equal(h.sends.length, 1, 'sent before it was written')
    assert.equal(answered, false, 'not answered before the write is durable')
    writes.shift()?.()
    await enqueued
    assert.equal(store.held.size, 1, 'on disk while the next hop has not answered')
    accept?.({ outcome: 'accepted' })
    await until(() => h.outbox.stats().delivered === 1, 'settled with the late answer')
    assert.equal(store.held.size, 0)
    assert.equal(h.outbox.stats().depth, 0)
    h.outbox.stop()
  })

  it('pass-through: a route lookup slower than passThroughMs (a DHT search for a hop that is down) does not hold the previous hop\'s answer', async () => {
    let found: (() => void) | undefined
    const h = harness({ init: { passThroughMs: 10 }, lookup: async () => { await new Promise<void>(resolve => { found = resolve }); return peerRoute('peer-1') } })
    await h.outbox.start()
    await h.outbox.enqueue(fields('route still unknown'))
    assert.equal(h.store.held.size, 1, 'written, and the previous hop answered, while the lookup goes on')
    assert.equal(h.sends.length, 0)
    found?.()
    await until(() => h.outbox.stats().delivered === 1, 'sent once the route is found')
    assert.equal(h.store.held.size, 0)
    h.outbox.stop()
  })

  it('pass-through: what the next hop did not take stays on disk with its attempt and goes in a later round; a busy hop\'s next message waits its turn', async () => {
    const { store, writes } = slowDiskStore()
    const results: DeliveryResult[] = [{ outcome: 'retry', reason: 'next hop busy' }]
    const attempts: number[] = []
    const h = harness({
      store,
      send: async (_route, message) => {
        attempts.push([...store.held.values()].find(e => e.message === message)?.attempts ?? -1)
        return results.shift() ?? { outcome: 'accepted' }
      }
    })
    await h.outbox.start()
    const first = h.outbox.enqueue(fields('refused for now', { enqueuedAt: 1 }))
    await until(() => h.sends.length === 1, 'the send while writing')
    // The hop is busy with the first: the second is not cut through, it waits for the hop's round.
    const second = h.outbox.enqueue(fields('behind it', { enqueuedAt: 2 }))
    await until(() => writes.length === 2, 'both writes under way')
    assert.equal(h.sends.length, 1, 'one send while the hop is busy')
    for (const write of writes.splice(0)) write()
    await Promise.all([first, second])
    await until(() => h.outbox.stats().delivered === 2, 'both delivered in a later round')
    assert.deepEqual(h.sends.map(s => s.message), ['refused for now', 'refused for now', 'behind it'])
    assert.deepEqual(attempts, [-1, 1, 0], 'the failed try was recorded once the entry was on disk')
    assert.equal(h.outbox.stats().retries, 1)
    assert.equal(store.held.size, 0)
    h.outbox.stop()
  })

  it('pass-through: a write that fails after the next hop refused for now is answered as failed and leaves nothing counted', async () => {
    const store = memoryStore()
    let fail: (() => void) | undefined
    store.add = async () => { await new Promise<void>(resolve => { fail = resolve }); throw new Error('disk full') }
    const h = harness({ store, send: async () => ({ outcome: 'retry', reason: 'next hop busy' }) })
    await h.outbox.start()
    const enqueued = h.outbox.enqueue(fields('sent, never written'))
    await until(() => h.sends.length === 1 && fail !== undefined, 'the send, then the write')
    fail?.()
    await assert.rejects(enqueued, /disk full/)
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.deepEqual(h.outbox.stats(), { depth: 0, delivered: 0, expired: 0, rejected: 0, retries: 0, exhausted: 0 })
    assert.deepEqual(h.outbox.hops(), [])
    h.outbox.stop()
  })

  it('a message kept in memory past half its claim\'s lease is claimed again from the store before it is sent', async () => {
    const store = memoryStore()
    const claim = store.claim.bind(store)
    let claims = 0
    store.claim = async (...args) => { claims++; return await claim(...args) }
    const pending: Array<(r: DeliveryResult) => void> = []
    const h = harness({ store, init: { window: 2, leaseMs: 20 }, send: async () => await new Promise<DeliveryResult>(resolve => pending.push(resolve)) })
    await h.outbox.start()
    await h.outbox.enqueue(fields('first', { enqueuedAt: 1 }))
    await until(() => pending.length === 1, 'the first send')
    // Kept in memory behind the first, whose send waits past half the lease.
    await h.outbox.enqueue(fields('second', { enqueuedAt: 2 }))
    await new Promise(resolve => setTimeout(resolve, 15))
    pending.shift()?.({ outcome: 'accepted' })
    await until(() => pending.length === 1, 'the second send')
    assert.equal(claims, 1, 'the second was claimed again, renewing its lease')
    pending.shift()?.({ outcome: 'accepted' })
    await until(() => h.outbox.stats().delivered === 2, 'both delivered')
    assert.deepEqual(h.sends.map(s => s.message), ['first', 'second'])
    h.outbox.stop()
  })

  it('quotas: per sender (e.p.req.quota.origin), messages and bytes overall (e.p.req.quota.outbox)', async () => {
    const perSender = harness({ init: { maxPerSender: 2 } })
    await perSender.outbox.enqueue(fields('a1', { sender: 'A' }))
    await perSender.outbox.enqueue(fields('a2', { sender: 'A' }))
    await assert.rejects(perSender.outbox.enqueue(fields('a3', { sender: 'A' })), (err: unknown) => {
      assert.ok(err instanceof ProblemReportError)
      assert.equal(err.code, 'e.p.req.quota.origin')
      assert.equal(httpStatusOf(err.code), 429)
      return true
    })
    await perSender.outbox.enqueue(fields('b1', { sender: 'B' }))
    assert.equal(perSender.outbox.stats().depth, 3)
    assert.equal(perSender.store.held.size, 3, 'the refused message was not written')

    const messages = harness({ init: { maxMessages: 2 } })
    await messages.outbox.enqueue(fields('x1', { sender: 'A' }))
    await messages.outbox.enqueue(fields('x2', { sender: 'B' }))
    await assert.rejects(messages.outbox.enqueue(fields('x3', { sender: 'C' })), (err: unknown) => err instanceof ProblemReportError && err.code === 'e.p.req.quota.outbox' && httpStatusOf(err.code) === 507)

    const bytes = harness({ init: { maxBytes: 10 } })
    await bytes.outbox.enqueue(fields('12345678', { sender: 'A' }))
    await assert.rejects(bytes.outbox.enqueue(fields('123', { sender: 'B' })), (err: unknown) => err instanceof ProblemReportError && err.code === 'e.p.req.quota.outbox')
    await bytes.outbox.enqueue(fields('12', { sender: 'B' }))
    assert.equal(bytes.outbox.stats().depth, 2)
  })

  it('a delivered message frees its sender\'s quota', async () => {
    const h = harness({ init: { maxPerSender: 1 } })
    await h.outbox.start()
    await h.outbox.enqueue(fields('first'))
    await until(() => h.outbox.stats().delivered === 1, 'delivery')
    await h.outbox.enqueue(fields('second'))
    await until(() => h.outbox.stats().delivered === 2, 'second delivery')
    h.outbox.stop()
  })

  it('retryNow(peer) wakes only the hop backing off towards that peer', async () => {
    let up = false
    const h = harness({
      // A backoff long enough that only retryNow can wake a hop within the test.
      init: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      lookup: async did => peerRoute(did === 'did:ex:a' ? 'peer-a' : 'peer-b'),
      send: async () => up ? { outcome: 'accepted' } : { outcome: 'retry', reason: 'down' }
    })
    await h.outbox.start()
    await h.outbox.enqueue(fields('to a', { next: 'did:ex:a' }))
    await h.outbox.enqueue(fields('to b', { next: 'did:ex:b' }))
    await until(() => h.outbox.stats().retries === 2, 'first failures')
    up = true
    // retryNow skips a hop still finishing its round: ask until hop a has been retried.
    await until(() => {
      h.outbox.retryNow('peer-unknown')
      h.outbox.retryNow('peer-a')
      return h.outbox.stats().delivered === 1
    }, 'hop a retried')
    assert.deepEqual(h.sends.map(s => s.message).sort(), ['to a', 'to a', 'to b'])
    // Give hop b every chance to (wrongly) run.
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(h.sends.filter(s => s.message === 'to b').length, 1, 'hop b still waits for its timer')
    assert.equal(h.outbox.stats().depth, 1)
    h.outbox.stop()
  })

  it('restart: a new outbox over the same store resumes with its counts, quotas and attempts', async () => {
    const store = memoryStore()
    let calls = 0
    // Fails once, then hangs (the node stops mid-send).
    const first = harness({ store, send: async () => (calls++ === 0 ? { outcome: 'retry', reason: 'down' } : await new Promise<never>(() => {})), init: { maxAttempts: 2, maxPerSender: 2 } })
    await first.outbox.start()
    await first.outbox.enqueue(fields('one'))
    await until(() => first.sends.length === 2, 'a failed attempt, then a hanging one')
    first.outbox.stop()
    await first.outbox.enqueue(fields('two', { enqueuedAt: Date.now() + 1 }))
    assert.equal(store.held.size, 2)

    let sent = 0
    const second = harness({ store, send: async () => (sent++ === 0 ? { outcome: 'retry', reason: 'still down' } : { outcome: 'accepted' }), init: { maxAttempts: 2, maxPerSender: 2, window: 1 } })
    // Counts are read from the store at start: the quota is already full.
    await second.outbox.start()
    await assert.rejects(second.outbox.enqueue(fields('three')), (err: unknown) => err instanceof ProblemReportError && err.code === 'e.p.req.quota.origin')
    await until(() => second.outbox.stats().depth === 0, 'the resumed queue drained')
    // 'one' had used one attempt before the restart: its next failure was its last.
    assert.equal(second.outbox.stats().exhausted, 1)
    assert.equal(second.reports[0]?.entry.message, 'one')
    assert.equal(second.reports[0]?.code, 'e.p.xfer.undeliverable')
    assert.equal(second.outbox.stats().delivered, 1)
    assert.equal(store.held.size, 0)
    second.outbox.stop()
  })
  it('with replicas sharing the store, a rescan drains what another process queued and counts only what still waits', async () => {
    const store = memoryStore()
    const h = harness({ store, init: { rescanMs: 10 } })
    const lone = harness({ store })
    await h.outbox.start()
    await lone.outbox.start()
    // Written by another replica: this process never saw an enqueue.
    await store.add({ ...fields('from another replica'), size: 20 })
    await until(() => h.outbox.stats().delivered === 1, 'the rescan to find and deliver it')
    assert.deepEqual(h.sends.map(s => s.message), ['from another replica'])
    assert.deepEqual(lone.sends, [], 'without rescans, only its own enqueues and what waited at start are drained')
    await until(() => h.outbox.stats().depth === 0, 'the count to follow the store')
    h.outbox.stop()
    lone.outbox.stop()
  })
})
