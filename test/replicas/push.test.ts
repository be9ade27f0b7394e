/**
 * Push with replicas of one mediator over PostgreSQL: registrations live in the database, and the
 * VAPID key is derived from the node key the replicas share, so any replica wakes a wallet with the
 * key its browser subscribed with.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startReplicas } from '../../bench/lib/replicas.ts'
import type { Replica, ReplicaSet } from '../../bench/lib/replicas.ts'
import { waitFor } from '../../bench/lib/wait.ts'
import { PUSH_WEBPUSH } from '../../protocols/push-notifications-webpush/messages.ts'
import { TestAgent, post, sendTo } from '../helpers/client.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'
import { startWebPushService } from '../helpers/push.ts'
import type { WebPushService } from '../helpers/push.ts'

describe('push with replicas over PostgreSQL', () => {
  let postgres: TestPostgres
  let set: ReplicaSet
  let service: WebPushService

  before(async () => {
    postgres = await startTestPostgres()
    service = await startWebPushService()
    set = await startReplicas(await postgres.createDatabase(), 2, ['--push-hosts', '127.0.0.1', '--push-private-destinations'])
  })
  after(async () => {
    await set?.stop()
    await service?.close()
    await postgres?.stop()
  })

  it('a subscription registered on one replica is shown, with the same VAPID key, and pushed to by the other', async () => {
    const [r1, r2] = set.replicas as [Replica, Replica]
    const { wallet, pairwise } = await TestAgent.mediatedWallet({ url: r1.url, did: set.did })
    const sub = service.subscribe()
    const registered = await post(r1.url, await wallet.pack(wallet.message(`${PUSH_WEBPUSH}/set-device-info`, { subscription: sub.subscription }, set.did), set.did))
    assert.equal(registered.status, 202, registered.text)
    const [one, two] = await Promise.all([r1, r2].map(async r => (await wallet.request(r.url, set.did, `${PUSH_WEBPUSH}/get-device-info`, {})).body))
    assert.deepEqual(two, one)
    assert.deepEqual(two?.subscription, sub.subscription)

    await sendTo(r2, pairwise, 'stored by replica 2')
    const [push] = await waitFor(() => service.received.length > 0 ? service.received : undefined, 5000, 'the push from replica 2')
    assert.equal(push?.vapidKey, one?.vapid_public_key)
    assert.deepEqual(service.invalid, [])
  })
})
