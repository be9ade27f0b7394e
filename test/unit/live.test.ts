import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import type { Envelope, PlainMessage } from '../../didcomm/envelope.ts'
import { createLiveDelivery } from '../../node/live.ts'
import type { Session } from '../../protocols/message.ts'
import { clientKey, contentHash } from '../../storage/store.ts'
import type { MailSignals, Mailbox, QueuedMessage } from '../../storage/store.ts'
import type { Mediations } from '../../storage/store.ts'

const logger = pino({ level: 'silent' })
const NODE = 'did:ex:node'
const CLIENT = 'did:ex:client'
const RECIPIENT = 'did:ex:recipient'

/** What the stub envelope "packs": a marker naming the delivery's type, parties and attachment ids. */
interface Pushed { type: string, to: string, from: string, ids: string[] }

/** Another process's signals, by hand: what this one announced, and a way to signal it. */
function stubSignals () {
  const announced: string[] = []
  const listeners = new Set<(key: string) => void>()
  const signals: MailSignals = {
    announce: client => { announced.push(client) },
    listen: listener => { listeners.add(listener); return () => { listeners.delete(listener) } }
  }
  return { signals, announced, signal: (key: string) => { for (const listener of listeners) listener(key) }, listening: () => listeners.size }
}

function stubs (opts: { failPack?: () => boolean, signals?: MailSignals } = {}) {
  const boxes = new Map<string, QueuedMessage[]>()
  let clock = 0
  const lists: Array<{ recipients: readonly string[], limit: number, exclude: string[] }> = []
  // Live delivery claims what it pushes; with one process, a claim is a listing.
  const mailbox = {
    async claim (recipients: readonly string[], limit: number, exclude: ReadonlySet<string>) {
      lists.push({ recipients, limit, exclude: [...exclude] })
      return recipients.flatMap(r => boxes.get(r) ?? []).filter(m => !exclude.has(m.id)).sort((a, b) => a.receivedAt - b.receivedAt).slice(0, limit)
    }
  } as unknown as Mailbox
  const mediations = { mailboxDids: async (client: string) => [RECIPIENT, client] } as unknown as Mediations
  const envelope = {
    async pack (message: PlainMessage, to: string, from: string) {
      if (opts.failPack?.() === true) throw new Error('pack failed')
      return JSON.stringify({ type: message.type, to, from, ids: (message.attachments ?? []).map(a => a.id ?? '') } satisfies Pushed)
    }
  } as unknown as Envelope
  const add = (recipient: string, message: string): string => {
    const m = { id: contentHash(message), receivedAt: ++clock, size: message.length, message }
    boxes.set(recipient, [...boxes.get(recipient) ?? [], m])
    return m.id
  }
  const ack = (ids: readonly string[]): void => {
    for (const [r, list] of boxes) boxes.set(r, list.filter(m => !ids.includes(m.id)))
  }
  const live = createLiveDelivery({ mailbox, mediations, envelope, nodeDid: () => NODE, logger, ...(opts.signals === undefined ? {} : { signals: opts.signals }) })
  return { live, add, ack, lists }
}

function session () {
  const pushed: Pushed[] = []
  let closed = 0
  const s: Session = { transport: 'websocket', push: packed => { pushed.push(JSON.parse(packed) as Pushed) }, close: () => { closed++ } }
  return { session: s, pushed, closed: () => closed, ids: () => pushed.flatMap(p => p.ids) }
}

async function until (check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 1))
  }
}

/** Lets queued refills run: one macrotask turn is more than the stubs' promise chains need. */
const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 5)) }

describe('live delivery', () => {
  it('enable claims the backlog (in flight at once) and pushes it only when asked, in deliveries of 10', async () => {
    const { live, add } = stubs()
    const ids = Array.from({ length: 25 }, (_, i) => add(i % 2 === 0 ? RECIPIENT : CLIENT, `m${i}`))
    const s = session()
    const pushBacklog = await live.enable(s.session, CLIENT, '3.0')
    assert.equal(live.isLive(s.session), true)
    assert.equal(live.sessions(), 1)
    assert.deepEqual([...live.inFlight(CLIENT)].sort(), [...ids].sort(), 'claimed before the status that follows enable')
    assert.equal(s.pushed.length, 0, 'nothing pushed before the caller says so')
    pushBacklog()
    await until(() => s.pushed.length === 3, 'three deliveries')
    assert.deepEqual(s.pushed.map(p => p.ids.length), [10, 10, 5])
    assert.deepEqual(s.ids(), ids, 'oldest first, across the client\'s mailboxes')
    for (const p of s.pushed) {
      assert.equal(p.type, 'https://didcomm.org/messagepickup/3.0/delivery')
      assert.equal(p.to, CLIENT)
      assert.equal(p.from, NODE)
    }
  })

  it('pickup 4.0 pushes 4.0 deliveries', async () => {
    const { live, add } = stubs()
    add(RECIPIENT, 'one')
    const s = session()
    ;(await live.enable(s.session, CLIENT, '4.0'))()
    await until(() => s.pushed.length === 1, 'a delivery')
    assert.equal(s.pushed[0]?.type, 'https://didcomm.org/message-pickup/4.0/delivery')
  })

  it('at most 100 pushed unacknowledged; acknowledging refills with the next, excluding those still in flight', async () => {
    const { live, add, ack, lists } = stubs()
    const ids = Array.from({ length: 150 }, (_, i) => add(RECIPIENT, `m${i}`))
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    await until(() => s.ids().length === 100, 'the first 100')
    assert.deepEqual(s.ids(), ids.slice(0, 100))
    assert.equal(live.inFlight(CLIENT).size, 100)

    // Nothing more while the allowance is used up, however many arrive.
    const listed = lists.length
    live.queued(CLIENT, RECIPIENT)
    await settle()
    assert.equal(s.ids().length, 100)
    assert.equal(lists.length, listed, 'a full allowance does not even read the mailbox')

    const acked = ids.slice(0, 10)
    ack(acked)
    live.acknowledged(CLIENT, acked)
    await until(() => s.ids().length === 110, 'a refill of 10')
    assert.deepEqual(s.ids().slice(100), ids.slice(100, 110))
    const refill = lists.at(-1)
    assert.equal(refill?.limit, 10, 'claims only the room left')
    assert.equal(refill?.exclude.length, 90, 'excludes the 90 still in flight')
    assert.equal(live.inFlight(CLIENT).size, 100)
    assert.equal(new Set(s.ids()).size, 110, 'nothing pushed twice')
  })

  it('handOut: none for a client not live; for a live one, messages no push repeats until acknowledged', async () => {
    const { live, add, ack } = stubs()
    assert.equal(await live.handOut(CLIENT, [RECIPIENT], 10), undefined)
    const ids = Array.from({ length: 105 }, (_, i) => add(RECIPIENT, `m${i}`))
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    await until(() => s.ids().length === 100, 'the window pushed')
    const handed = await live.handOut(CLIENT, [RECIPIENT], 10)
    assert.deepEqual(handed?.map(m => m.id), ids.slice(100))
    ack(ids.slice(0, 10))
    live.acknowledged(CLIENT, ids.slice(0, 10))
    await settle()
    assert.equal(new Set(s.ids()).size, s.ids().length, 'nothing pushed twice')
    assert.equal(s.ids().some(id => ids.slice(100).includes(id)), false, 'what was handed out is not pushed')
  })

  it('pushing: the room left in the in-flight window of a live client, none for one not live', async () => {
    const { live, add } = stubs()
    assert.equal(live.pushing(CLIENT), 0, 'not live: the client must ask for everything')
    for (let i = 0; i < 30; i++) add(RECIPIENT, `m${i}`)
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    assert.equal(live.pushing(CLIENT), 70, 'live: whatever fits beside the 30 in flight comes without asking')
    live.disable(s.session)
    assert.equal(live.pushing(CLIENT), 0)
  })

  it('a message queued for a live client is pushed; one for a client not live reads nothing', async () => {
    const { live, add, lists } = stubs()
    const first = add(RECIPIENT, 'early')
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    await until(() => s.pushed.length === 1, 'the backlog')
    const next = add(RECIPIENT, 'later')
    live.queued(CLIENT, RECIPIENT)
    await until(() => s.pushed.length === 2, 'the new message')
    assert.deepEqual(s.pushed[1]?.ids, [next], 'the in-flight one is not pushed again')
    assert.deepEqual(lists.at(-1)?.exclude, [first])

    const listed = lists.length
    live.queued('did:ex:someone-else', RECIPIENT)
    await settle()
    assert.equal(lists.length, listed)
  })

  it('concurrent arrivals never push the same message twice', async () => {
    const { live, add } = stubs()
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    const ids = Array.from({ length: 20 }, (_, i) => add(RECIPIENT, `burst ${i}`))
    for (let i = 0; i < 20; i++) live.queued(CLIENT, RECIPIENT)
    await until(() => s.ids().length >= 20, 'the burst')
    await settle()
    assert.deepEqual([...s.ids()].sort(), [...ids].sort())
  })

  it('pushes go to the client\'s newest session; in flight is counted across its sessions', async () => {
    const { live, add } = stubs()
    const a = session()
    const b = session()
    const first = add(RECIPIENT, 'one')
    ;(await live.enable(a.session, CLIENT, '3.0'))()
    await until(() => a.pushed.length === 1, 'push to a')
    ;(await live.enable(b.session, CLIENT, '3.0'))()
    await settle()
    assert.equal(b.pushed.length, 0, 'what is in flight on a is not pushed to b')
    const second = add(RECIPIENT, 'two')
    live.queued(CLIENT, RECIPIENT)
    await until(() => b.pushed.length === 1, 'push to b')
    assert.deepEqual(b.pushed[0]?.ids, [second])
    assert.deepEqual([...live.inFlight(CLIENT)].sort(), [first, second].sort())
    assert.equal(live.sessions(), 2)
  })

  it('disable stops pushes and releases the session\'s in-flight messages; drop closes every session of the client', async () => {
    const { live, add } = stubs()
    const a = session()
    add(RECIPIENT, 'one')
    ;(await live.enable(a.session, CLIENT, '3.0'))()
    await until(() => a.pushed.length === 1, 'push')
    live.disable(a.session)
    assert.equal(live.isLive(a.session), false)
    assert.equal(live.sessions(), 0)
    assert.equal(live.inFlight(CLIENT).size, 0, 'a closed session\'s pushes count as waiting again')
    add(RECIPIENT, 'two')
    live.queued(CLIENT, RECIPIENT)
    await settle()
    assert.equal(a.pushed.length, 1)
    live.disable(a.session) // twice is harmless

    const b = session()
    const c = session()
    const other = session()
    await live.enable(b.session, CLIENT, '3.0')
    await live.enable(c.session, CLIENT, '4.0')
    await live.enable(other.session, 'did:ex:other', '3.0')
    live.drop(CLIENT)
    assert.equal(b.closed(), 1)
    assert.equal(c.closed(), 1)
    assert.equal(other.closed(), 0)
    assert.equal(live.sessions(), 1)
    assert.equal(live.isLive(other.session), true)
  })

  it('a failed pack leaves the messages queued and claimable again', async () => {
    let fail = true
    const { live, add } = stubs({ failPack: () => fail })
    const id = add(RECIPIENT, 'one')
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    await until(() => live.inFlight(CLIENT).size === 0, 'the claim released')
    assert.equal(s.pushed.length, 0)
    fail = false
    live.queued(CLIENT, RECIPIENT)
    await until(() => s.pushed.length === 1, 'the retry')
    assert.deepEqual(s.pushed[0]?.ids, [id])
  })
  it('mail queued by another process serving the store is pushed when it signals; this process announces what it queues', async () => {
    const other = stubSignals()
    const { live, add } = stubs({ signals: other.signals })
    const s = session()
    ;(await live.enable(s.session, CLIENT, '3.0'))()
    const id = add(RECIPIENT, 'queued elsewhere')
    other.signal(clientKey('did:ex:not-live-here'))
    await settle()
    assert.deepEqual(s.ids(), [], 'a signal for a client not live here pushes nothing')
    other.signal(clientKey(CLIENT))
    await until(() => s.ids().length === 1, 'the push after the signal')
    assert.deepEqual(s.ids(), [id])

    live.queued(CLIENT, RECIPIENT)
    live.queued('did:ex:elsewhere', 'did:ex:r')
    assert.deepEqual(other.announced, [CLIENT, 'did:ex:elsewhere'], 'every queued message is announced: its client may be live on another process')

    live.disable(s.session)
    add(RECIPIENT, 'after disable')
    other.signal(clientKey(CLIENT))
    await settle()
    assert.equal(s.ids().length, 1, 'a client no longer live here is not pushed to')
    live.stop()
    assert.equal(other.listening(), 0)
  })
})
