import assert from 'node:assert/strict'
import { createECDH, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { waitFor } from '../../bench/lib/wait.ts'
import { pushEndpointAllowed } from '../../node/push/endpoints.ts'
import { createPushNotifier } from '../../node/push/notifier.ts'
import type { PushFailure, PushNotifierComponents, PushNotifierInit } from '../../node/push/notifier.ts'
import { vapidKeys } from '../../node/push/vapid.ts'
import type { PushOutcome } from '../../node/push/wire.ts'
import type { PushRegistration } from '../../storage/store.ts'

describe('Web Push endpoints', () => {
  const hosts = ['fcm.googleapis.com', '*.notify.windows.com', '127.0.0.1', '[::1]']
  const strict = { hosts, privateDestinations: false }
  const lan = { hosts, privateDestinations: true }

  it('only https endpoints of listed push services, at public addresses unless allowed', () => {
    assert.equal(pushEndpointAllowed('https://fcm.googleapis.com/fcm/send/abc', strict), true)
    assert.equal(pushEndpointAllowed('https://FCM.googleapis.com:443/fcm/send/abc', strict), true, 'host names are case-insensitive')
    assert.equal(pushEndpointAllowed('https://wns2-par02p.notify.windows.com/w/?token=x', strict), true, '*.domain: its subdomains')
    assert.equal(pushEndpointAllowed('https://notify.windows.com/w', strict), false, '*.domain: not the domain itself')
    assert.equal(pushEndpointAllowed('https://evilnotify.windows.com/w', strict), false)
    assert.equal(pushEndpointAllowed('https://fcm.googleapis.com.evil.example/x', strict), false)
    assert.equal(pushEndpointAllowed('http://fcm.googleapis.com/fcm/send/abc', strict), false, 'plain http')
    assert.equal(pushEndpointAllowed('https://user:pw@fcm.googleapis.com/x', strict), false, 'credentials')
    assert.equal(pushEndpointAllowed('ftp://fcm.googleapis.com/x', lan), false)
    assert.equal(pushEndpointAllowed('not a url', lan), false)
    // Listed, but loopback: only when the operator allows non-public addresses.
    assert.equal(pushEndpointAllowed('https://127.0.0.1:8443/push', strict), false)
    assert.equal(pushEndpointAllowed('https://[::1]:8443/push', strict), false)
    assert.equal(pushEndpointAllowed('http://127.0.0.1:8443/push', lan), true)
    assert.equal(pushEndpointAllowed('http://[::1]:8443/push', lan), true)
    assert.equal(pushEndpointAllowed('http://10.0.0.1/push', lan), false, 'allowed addresses still need to be listed')
  })
})

describe('VAPID keys', () => {
  it('derive from the node secret: the same for every replica, another for another node, a valid P-256 pair', () => {
    const secret = randomBytes(32)
    const keys = vapidKeys(secret)
    assert.deepEqual(vapidKeys(Buffer.from(secret)), keys)
    assert.notDeepEqual(vapidKeys(randomBytes(32)), keys)
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(Buffer.from(keys.privateKey, 'base64url'))
    assert.equal(ecdh.getPublicKey().toString('base64url'), keys.publicKey)
    // A secret that is no valid scalar (0, or at least the group order) still gives a pair.
    assert.equal(Buffer.from(vapidKeys(Buffer.alloc(32)).publicKey, 'base64url').length, 65)
    assert.equal(Buffer.from(vapidKeys(Buffer.alloc(32, 0xff)).publicKey, 'base64url').length, 65)
  })
})

describe('push notifier', () => {
  const device = (id: string, client = 'did:ex:client'): PushRegistration => ({ id, client, kind: 'webpush', token: `https://push.example/${id}`, registeredAt: 1 })

  function notifier (devices: PushRegistration[], send: (d: PushRegistration) => Promise<PushOutcome>, init: Partial<PushNotifierInit> = {}, over: Partial<PushNotifierComponents> = {}) {
    const failures: PushFailure[] = []
    const removed: string[] = []
    let sent = 0
    let coalesced = 0
    const made = createPushNotifier({
      devices: {
        list: async client => devices.filter(d => d.client === client),
        remove: async id => { removed.push(id); return true }
      },
      send,
      live: () => false,
      waiting: async () => true,
      logger: pino({ level: 'silent' }),
      metrics: { pushed: () => { sent++ }, pushCoalesced: () => { coalesced++ }, pushFailed: reason => { failures.push(reason) }, pushRegistrations: () => {} },
      ...over
    }, { intervalMs: 60_000, maxAttempts: 3, queueMax: 100, retryBaseMs: 5, retryMaxMs: 20, ...init })
    return { notifier: made, failures, removed, counts: () => ({ sent, coalesced }) }
  }

  it('pending push work is bounded: past queueMax, pushes and wake-ups are dropped and counted, and no devices are read', async () => {
    const stalls: Array<() => void> = []
    let lookups = 0
    let sends = 0
    const devices = Array.from({ length: 20 }, (_, i) => device(`d${i}`))
    const { notifier: n, failures } = notifier([], async () => {
      sends++
      return await new Promise<PushOutcome>(resolve => { stalls.push(() => { resolve('sent') }) })
    }, { queueMax: 8, concurrency: 4 }, {
      devices: { list: async client => { lookups++; return client === 'did:ex:client' ? devices : [] }, remove: async () => true }
    })
    n.wake('did:ex:client')
    await waitFor(() => failures.length === 12 ? true : undefined, 2000, 'twelve pushes over the bound')
    assert.equal(stalls.length, 4, 'four in flight, four waiting for a slot')
    n.wake('did:ex:another')
    assert.deepEqual(failures, Array(13).fill('overflow'))
    assert.equal(lookups, 1, 'a wake-up past the bound reads nothing')
    for (const release of stalls.splice(0)) release()
    await waitFor(() => stalls.length === 4 ? true : undefined, 2000, 'the waiting four')
    for (const release of stalls.splice(0)) release()
    assert.equal(sends, 8)
    n.stop()
  })

  it('retries a busy or unreachable service a bounded number of times; gone removes the device; rejected is final', async () => {
    const calls = new Map<string, number>()
    const outcomes: Record<string, PushOutcome> = { busy: 'retry', gone: 'gone', refused: 'rejected' }
    const { notifier: n, failures, removed } = notifier([device('busy'), device('gone'), device('refused')], async d => {
      calls.set(d.id, (calls.get(d.id) ?? 0) + 1)
      return outcomes[d.id] as PushOutcome
    })
    n.wake('did:ex:client')
    await waitFor(() => failures.length === 3 ? true : undefined, 2000, 'three failures')
    assert.deepEqual(Object.fromEntries(calls), { busy: 3, gone: 1, refused: 1 })
    assert.deepEqual(failures.sort(), ['gone', 'rejected', 'unreachable'])
    assert.deepEqual(removed, ['gone'])
    n.stop()
  })

  it('at the interval\'s end one push if messages still wait and the wallet is not live; wake-ups during that check get no push of their own', async () => {
    let waits = true
    let checking: (() => void) | undefined
    // A function, not `checking?.()` inline: the checks hold it, in ways the compiler cannot follow.
    const finishCheck = (): void => { checking?.() }
    let sent = 0
    const { notifier: n } = notifier([device('d1')], async () => { sent++; return 'sent' }, { intervalMs: 100 }, {
      waiting: async () => { await new Promise<void>(resolve => { checking = resolve }); return waits }
    })
    n.wake('did:ex:client')
    await waitFor(() => sent === 1 ? true : undefined, 1000, 'the first push')
    n.wake('did:ex:client')
    await waitFor(() => checking, 1000, 'the check at the interval\'s end')
    n.wake('did:ex:client')
    n.wake('did:ex:client')
    finishCheck()
    await waitFor(() => sent === 2 ? true : undefined, 1000, 'the push at the end')
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(sent, 2, 'one push for all of them')

    // Collected meanwhile: nothing at the end, and the next message is pushed at once.
    checking = undefined
    waits = false
    n.wake('did:ex:client')
    await waitFor(() => checking, 1000, 'the next check')
    finishCheck()
    await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(sent, 2)
    n.wake('did:ex:client')
    await waitFor(() => sent === 3 ? true : undefined, 1000, 'a push at once')
    n.stop()
  })

  it('a store failure at the interval\'s end does not leave the client without pushes for good', async () => {
    let failing = true
    let sent = 0
    const { notifier: n } = notifier([device('d1')], async () => { sent++; return 'sent' }, { intervalMs: 50 }, {
      waiting: async () => { if (failing) throw new Error('the database cannot be reached'); return true }
    })
    n.wake('did:ex:client')
    await waitFor(() => sent === 1 ? true : undefined, 1000, 'the first push')
    // Folded into the interval; its end asks the store, which fails.
    n.wake('did:ex:client')
    await new Promise(resolve => setTimeout(resolve, 120))
    failing = false
    n.wake('did:ex:client')
    await waitFor(() => sent === 2 ? true : undefined, 1000, 'a push once the store is back')
    n.stop()
  })

  it('one push per interval; a client with no devices costs one lookup per interval; a send that throws is retried', async () => {
    let lookups = 0
    let attempts = 0
    const { notifier: n, counts } = notifier([], async () => {
      if (++attempts === 1) throw new Error('boom')
      return 'sent'
    }, {}, {
      devices: {
        list: async client => { lookups++; return client === 'did:ex:client' ? [device('d1')] : [] },
        remove: async () => true
      }
    })
    for (let i = 0; i < 5; i++) n.wake('did:ex:nobody')
    for (let i = 0; i < 5; i++) n.wake('did:ex:client')
    await waitFor(() => counts().sent === 1 ? true : undefined, 2000, 'the push')
    assert.equal(lookups, 2)
    assert.equal(attempts, 2)
    assert.equal(counts().coalesced, 4, 'only a client with devices has pushes to fold')
    n.stop()
  })
})
