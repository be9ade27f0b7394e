/**
 * The mesh in front of a replicated mediator: a node relaying to it keeps delivering while one
 * replica is gone. The replicas share one peer ID, so the relaying node reaches whichever is up.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { BASIC, TestAgent } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'
import { startReplicas } from '../../bench/lib/replicas.ts'
import type { Replica, ReplicaSet } from '../../bench/lib/replicas.ts'

const nodes = testNodes()
let postgres: TestPostgres
let set: ReplicaSet

before(async () => {
  postgres = await startTestPostgres()
  set = await startReplicas(await postgres.createDatabase(), 2)
})
after(async () => {
  await nodes.stopAll()
  await set?.stop()
  await postgres?.stop()
})

it('a mesh node relays to the replicated mediator, and keeps delivering with the replica it used killed', async () => {
  const [r1, r2] = set.replicas as [Replica, Replica]
  const s = await nodes.start({ bootstrap: [set.libp2p] })
  const { wallet, pairwise } = await TestAgent.mediatedWallet({ url: r1.url, did: set.did })
  const business = new TestAgent()
  await business.mediate(s.url, s.did)

  const send = async (content: string): Promise<string> => {
    const msg = business.message(BASIC, { content }, pairwise)
    const answer = await business.sendThrough(s, msg, pairwise, set.did)
    assert.equal(answer.status, 202, answer.text)
    return msg.id
  }
  /** Every message sent so far, picked up from `replica` until all have arrived. */
  const received = new Set<string>()
  const arrive = async (ids: string[], replica: Replica): Promise<void> => {
    await waitFor(async () => {
      for (const got of await wallet.pickup(replica.url, set.did, { ack: true })) received.add(got.message.id)
      return ids.every(id => received.has(id)) ? true : undefined
    }, 30_000, `${ids.length} relayed messages at ${replica.url}`)
  }

  const before = [await send('before 1'), await send('before 2')]
  await arrive(before, r1)
  const [first, second] = await Promise.all([r1, r2].map(relayedTo)) as [number, number]
  const used = first > 0 ? r1 : r2
  const other = used === r1 ? r2 : r1
  assert.equal(Math.max(first, second), 2, 'the relays reached one replica over libp2p')

  await used.node.kill()
  const afterKill = await Promise.all(['after 1', 'after 2', 'after 3'].map(send))
  await arrive(afterKill, other)
  assert.equal(await relayedTo(other), (used === r1 ? second : first) + 3, 'the other replica took the relays')
  assert.equal(received.size, 5, 'each once')
  assert.equal(s.node.info().mesh.outbox.depth, 0, 'nothing left waiting at the relaying node')
})

/** Messages a replica accepted over libp2p, from its metrics. */
async function relayedTo (replica: Replica): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith('didcomm_mesh_messages_total{') && l.includes('transport="libp2p"') && l.includes('outcome="accepted"'))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}
