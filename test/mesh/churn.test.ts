import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { BASIC, TestAgent } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode } from '../helpers/node.ts'
import { connected, providedNow, receive, startBehindNat, startDhtPeer } from './helpers.ts'
import type { DhtPeer } from './helpers.ts'

const cluster = testNodes('didcomm-mesh-mesh-', { logs: true })
let probe: DhtPeer | undefined
after(async () => {
  await probe?.stop()
  await cluster.stopAll()
})

let nodes: LoggedTestNode[]
let j: LoggedTestNode

/**
 * Ten nodes: 0 and 1 first, then J behind NAT bootstrapped to both (it knows no other node until it
 * looks one up), then seven more bootstrapped to node 0. A is node 7, S node 9.
 */
before(async () => {
  const first = await cluster.start()
  probe = await startDhtPeer(first.info.multiaddrs[0] as string)
  const [second] = await cluster.join(first, [{}]) as [LoggedTestNode]
  await probe.dial(multiaddr(second.info.multiaddrs[0] as string))
  j = await startBehindNat(cluster, first, probe, { bootstrap: [first.info.multiaddrs[0], second.info.multiaddrs[0]] })
  nodes = [first, second, j, ...await cluster.join(first, Array.from({ length: 7 }, () => ({})))]
  for (const node of [nodes[7], nodes[9]] as LoggedTestNode[]) {
    await waitFor(async () => await providedNow(probe as DhtPeer, node) ? true : undefined, 20_000, `the provider record of ${node.url}`)
  }
})

it('with 3 of 10 nodes gone (the bootstrap node among them), J’s first lookups of A and S resolve and messages get through', async () => {
  const a = nodes[7] as LoggedTestNode
  const s = nodes[9] as LoggedTestNode
  const wallets = new Map<LoggedTestNode, { wallet: TestAgent, pairwise: string }>()
  for (const home of [a, s]) wallets.set(home, await TestAgent.mediatedWallet(home))
  const business = new TestAgent()
  await business.mediate(j.url, j.did)

  for (const gone of [0, 3, 5]) await (nodes[gone] as LoggedTestNode).stop()
  assert.ok(!connected(j, a) && !connected(j, s), 'J has no connection to A or S')

  for (const home of [a, s]) {
    const { wallet, pairwise } = wallets.get(home) as { wallet: TestAgent, pairwise: string }
    const msg = business.message(BASIC, { content: `after churn, to ${home.url}` }, pairwise)
    const answer = await business.sendThrough(j, msg, pairwise, home.did)
    assert.equal(answer.status, 202, answer.text)
    const got = await receive(wallet, home, msg.id)
    assert.deepEqual(got.message.body, { content: `after churn, to ${home.url}` })
  }

  const { routes, outbox } = j.node.info().mesh
  assert.equal(routes.lookups.cache, 0, `fresh lookups: ${JSON.stringify(routes.lookups)}`)
  // A's lookup went through the DHT; its query may have connected J to S on the way, so S's may find that connection.
  assert.ok(routes.lookups['dht-provider'] + routes.lookups['dht-peer'] >= 1, `through the DHT: ${JSON.stringify(routes.lookups)}`)
  assert.ok(routes.lookups['dht-provider'] + routes.lookups['dht-peer'] + routes.lookups.connected >= 2, `both resolved: ${JSON.stringify(routes.lookups)}`)
  assert.equal(routes.failures, 0)
  assert.equal(outbox.delivered, 2)
  assert.equal(outbox.depth, 0)
})
