/**
 * A replica that loses PostgreSQL refuses (503, not ready) rather than acknowledge what it cannot
 * store, and recovers by itself: every forward it acknowledged, before, during and after, arrives.
 * Two outages: the network path to the database cut, and the server itself restarted under load.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { ThirdPartyAgent } from '../../bench/lib/agent.ts'
import { closePackers, packForwards } from '../../bench/lib/pack.ts'
import { startReplicas } from '../../bench/lib/replicas.ts'
import type { Replica, ReplicaSet } from '../../bench/lib/replicas.ts'
import { waitFor } from '../../bench/lib/wait.ts'
import { TestAgent, post } from '../helpers/client.ts'
import { startCuttableProxy, startTestPostgres } from '../helpers/postgres.ts'
import type { CuttableProxy, TestPostgres } from '../helpers/postgres.ts'

let postgres: TestPostgres
let proxy: CuttableProxy
const sets: ReplicaSet[] = []

before(async () => { postgres = await startTestPostgres() })
after(async () => {
  for (const set of sets) await set.stop()
  await proxy?.close()
  await closePackers()
  await postgres?.stop()
})

async function readiness (replica: Replica): Promise<{ status: number, store: boolean }> {
  const res = await fetch(`${replica.url}/ready`)
  const body = await res.json() as { checks: { store: boolean } }
  return { status: res.status, store: body.checks.store }
}

/**
 * Streams forwards at one replica while `outage` takes the database away and gives it back; checks
 * the replica is not ready and refuses with 503 meanwhile, recovers, and delivers what it acknowledged.
 */
async function throughOutage (storeUrl: string, outage: { begin: () => Promise<void>, end: () => Promise<void> }): Promise<void> {
  const set = await startReplicas(storeUrl, 1)
  sets.push(set)
  const [replica] = set.replicas as [Replica]
  const { wallet, pairwise } = await TestAgent.mediatedWallet({ url: replica.url, did: set.did })
  const forwards = await packForwards(new ThirdPartyAgent(), { to: pairwise, bodyBytes: 100 }, 300)
  assert.deepEqual(await readiness(replica), { status: 200, store: true })

  // Forwards keep coming, one at a time, across the outage: each is either acknowledged or refused.
  const answers: number[] = []
  const sending = (async () => {
    for (const packed of forwards) {
      answers.push((await post(replica.url, packed)).status)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  })()
  await waitFor(() => answers.length >= 50 ? true : undefined, 20_000, 'forwards before the outage')
  await outage.begin()
  await waitFor(async () => (await readiness(replica)).status === 503 ? true : undefined, 10_000, '/ready to fail')
  assert.deepEqual(await readiness(replica), { status: 503, store: false })
  const refused = await post(replica.url, forwards[0] as string)
  assert.equal(refused.status, 503, refused.text)
  assert.equal((JSON.parse(refused.text) as { body: { code: string } }).body.code, 'e.m.not-ready')

  await outage.end()
  await waitFor(async () => (await readiness(replica)).status === 200 ? true : undefined, 30_000, '/ready to recover')
  await sending

  assert.deepEqual([...new Set(answers)].sort(), [202, 503], `only acknowledged or refused: ${[...new Set(answers)].join(', ')}`)
  const acknowledged = answers.filter(status => status === 202).length
  const ids = new Set<string>()
  await waitFor(async () => {
    for (const got of await wallet.pickup(replica.url, set.did, { ack: true })) ids.add(got.id)
    return ids.size >= acknowledged ? true : undefined
  }, 30_000, `${acknowledged} acknowledged forwards`)
  // A forward refused while its commit's answer was lost on the way may be there too: never fewer.
  assert.ok(ids.size >= acknowledged && ids.size <= forwards.length, `${ids.size} delivered, ${acknowledged} acknowledged`)
}

it('the network path to the database cut: not ready, forwards refused with 503; back by itself, nothing acknowledged lost', async () => {
  const url = await postgres.createDatabase()
  proxy = await startCuttableProxy(url)
  await throughOutage(proxy.through(url), {
    begin: async () => { proxy.cut() },
    end: async () => {
      await new Promise(resolve => setTimeout(resolve, 1000))
      proxy.restore()
    }
  })
})

it('PostgreSQL itself restarted under load: the same, and what it acknowledged survived the restart', async () => {
  let restarting: Promise<void> | undefined
  await throughOutage(await postgres.createDatabase(), {
    begin: async () => { restarting = postgres.restart(1500) },
    end: async () => { await restarting }
  })
})
