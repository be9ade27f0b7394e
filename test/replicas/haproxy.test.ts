/**
 * deploy/replicas/haproxy.cfg for real, in front of three replicas over PostgreSQL: HTTP and a live
 * WebSocket through it, operator endpoints refused, and a replica killed with SIGKILL taken out by
 * the /ready check while every forward is still accepted and delivered.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ThirdPartyAgent } from '../../bench/lib/agent.ts'
import { postAccepted } from '../../bench/lib/load.ts'
import { closePackers, packForwards } from '../../bench/lib/pack.ts'
import { DELIVERY, WalletSocket } from '../../bench/lib/wallet-socket.ts'
import { TestAgent, sendTo } from '../helpers/client.ts'
import { haproxyMissing, startHaproxy } from '../helpers/haproxy.ts'
import type { TestHaproxy } from '../helpers/haproxy.ts'
import { freePort } from '../helpers/nginx.ts'
import { waitFor } from '../helpers/node.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'
import { startReplicas } from '../../bench/lib/replicas.ts'
import type { ReplicaSet } from '../../bench/lib/replicas.ts'

const skip = haproxyMissing()

describe('three replicas behind HAProxy with deploy/replicas/haproxy.cfg', { skip }, () => {
  let postgres: TestPostgres
  let set: ReplicaSet
  let haproxy: TestHaproxy
  /** The mediator as wallets see it: HAProxy's URL, which the DID names. */
  let mediator: { url: string, wsUrl: string, did: string }

  before(async () => {
    postgres = await startTestPostgres()
    const port = await freePort()
    // The public URL given last wins over startReplicas' own.
    set = await startReplicas(await postgres.createDatabase(), 3, ['--public-url', `http://127.0.0.1:${port}`, '--trust-proxy', '127.0.0.1'])
    haproxy = await startHaproxy(port, await freePort(), set.replicas)
    mediator = { url: haproxy.url, wsUrl: `ws://127.0.0.1:${port}/ws`, did: set.did }
  })
  after(async () => {
    await haproxy?.stop()
    await set?.stop()
    await closePackers()
    await postgres?.stop()
  })

  it('serves the DIDComm endpoints and refuses the operator ones', async () => {
    assert.equal((await fetch(`${haproxy.url}/ready`)).status, 200)
    for (const path of ['/metrics', '/info', '/admin/clients']) assert.equal((await fetch(haproxy.url + path)).status, 403, path)
  })

  it('carries a live WebSocket: a forward posted through HAProxy is pushed at once', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(mediator)
    const socket = await WalletSocket.open(wallet, mediator)
    try {
      await socket.goLive()
      const sent = await sendTo(mediator, pairwise, 'through haproxy')
      const delivery = await socket.next(DELIVERY)
      const packed = Buffer.from(delivery.attachments?.[0]?.data.base64 ?? '', 'base64').toString('utf8')
      assert.equal((await wallet.unpack(packed)).message.id, sent.id)
    } finally {
      await socket.close()
    }
  })

  it('takes a killed replica out: every forward is accepted and delivered', { timeout: 60_000 }, async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(mediator)
    const forwards = await packForwards(new ThirdPartyAgent(), { to: pairwise, bodyBytes: 200 }, 90)
    await set.replicas[0]?.node.kill()
    // A connection refused is sent to another replica (redispatch); the check soon marks it down.
    for (const packed of forwards) await postAccepted(mediator.url, packed)
    const received: string[] = []
    await waitFor(async () => {
      received.push(...(await wallet.pickup(mediator.url, mediator.did, { ack: true })).map(message => message.id))
      return received.length >= forwards.length ? true : undefined
    }, 30_000, 'every forward to be picked up')
    assert.equal(received.length, forwards.length, 'each forward once')
    assert.equal(new Set(received).size, forwards.length)
    await set.restart(0)
  })
})
