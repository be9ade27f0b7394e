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

  it('pending push work is bounded: past queueMax, wake-ups are dropped and counted', async () => {
    const stalls: Array<() => void> = []
    const devices = Array.from({ length: 50 }, (_, i) => device(`d${i}`, `did:ex:c${i % 10}`))
    const { notifier: n, failures } = notifier(devices, async () => await new Promise<PushOutcome>(resolve => { stalls.push(() => { resolve('sent') }) }), { queueMax: 8, concurrency: 4 })
    for (let i = 0; i < 10; i++) n.wake(`did:ex:c${i}`)
    await waitFor(() => failures.length === 42 ? true : undefined, 2000, 'overflow counted')
    assert.ok(failures.every(f => f === 'overflow'))
    assert.equal(stalls.length, 4, 'four in flight, four waiting for a slot')
    for (const release of stalls.splice(0)) release()
    await waitFor(() => stalls.length === 4 ? true : undefined, 2000, 'the waiting four')
    for (const release of stalls.splice(0)) release()
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
