/**
 * What operators watch: GET /metrics moves with traffic (messages by outcome and code, deliveries,
 * mailbox depth, relays and their latency, outbox, route lookups, peers, libp2p's own metrics), and
 * GET /ready reports each check, including a peer when bootstrap peers are configured; stopping
 * closes WebSockets properly.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BASIC, TestAgent, post, sendTo, wrapForward } from '../helpers/client.ts'
import WebSocket from 'ws'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

/** The value of one sample line (`name{labels} value`) in Prometheus text, 0 when absent. */
function sample (text: string, name: string, labels = ''): number {
  const line = text.split('\n').find(l => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

async function scrape (node: TestNode): Promise<string> {
  const res = await fetch(new URL('metrics', node.url))
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
  return await res.text()
}

describe('operations: metrics and readiness', () => {
  const nodes = testNodes()
  let home: TestNode
  let relay: TestNode

  before(async () => {
    home = await nodes.start()
    relay = await nodes.start({ bootstrap: [home.info.multiaddrs[0] as string] })
  })
  after(async () => { await nodes.stopAll() })

  it('messages, refusals by code, mailbox depth and deliveries move with traffic', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(home)
    const before = await scrape(home)
    for (let i = 0; i < 3; i++) await sendTo(home, pairwise, `metric ${i}`)
    await post(home.url, '{"not":"a jwe"}')
    const queued = await scrape(home)
    assert.equal(sample(queued, 'didcomm_mesh_messages_total', 'transport="http",outcome="accepted",code=""') - sample(before, 'didcomm_mesh_messages_total', 'transport="http",outcome="accepted",code=""'), 3)
    assert.equal(sample(queued, 'didcomm_mesh_messages_total', 'transport="http",outcome="refused",code="e.p.msg.unencrypted"') - sample(before, 'didcomm_mesh_messages_total', 'transport="http",outcome="refused",code="e.p.msg.unencrypted"'), 1)
    assert.equal(sample(queued, 'didcomm_mesh_mailbox_messages') - sample(before, 'didcomm_mesh_mailbox_messages'), 3)
    assert.ok(sample(queued, 'didcomm_mesh_mailbox_bytes') > sample(before, 'didcomm_mesh_mailbox_bytes'))

    assert.equal((await wallet.pickup(home.url, home.did, { ack: true })).length, 3)
    const picked = await scrape(home)
    assert.equal(sample(picked, 'didcomm_mesh_deliveries_total') - sample(before, 'didcomm_mesh_deliveries_total'), 3)
    assert.equal(sample(picked, 'didcomm_mesh_mailbox_messages'), sample(before, 'didcomm_mesh_mailbox_messages'))
    assert.ok(sample(picked, 'didcomm_mesh_process_resident_memory_bytes') > 0, 'process metrics')
  })

  it('relays, their latency, route lookups and peers move on the relaying node; libp2p reports its own', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(home)
    const business = new TestAgent()
    await business.mediate(relay.url, relay.did)
    const before = await scrape(relay)
    const inner = await business.pack(business.message(BASIC, { content: 'relayed' }, pairwise), pairwise, business.did, { forward: true })
    const answer = await post(relay.url, await wrapForward(business, inner, home.did, relay.did, business.did))
    assert.equal(answer.status, 202, answer.text)
    await waitFor(async () => (await wallet.pickup(home.url, home.did, { ack: true })).length > 0 ? true : undefined, 20_000, 'the relayed message')

    const after = await waitFor(async () => {
      const text = await scrape(relay)
      return sample(text, 'didcomm_mesh_relays_total', 'outcome="accepted"') > sample(before, 'didcomm_mesh_relays_total', 'outcome="accepted"') ? text : undefined
    }, 10_000, 'the relay counter')
    assert.ok(sample(after, 'didcomm_mesh_relay_duration_seconds_count', 'outcome="accepted"') > sample(before, 'didcomm_mesh_relay_duration_seconds_count', 'outcome="accepted"'))
    const lookups = (text: string): number => ['cache', 'connected', 'dht-provider', 'dht-peer', 'did-doc'].reduce((sum, source) => sum + sample(text, 'didcomm_mesh_route_lookups_total', `source="${source}"`), 0)
    assert.ok(lookups(after) > lookups(before), 'a route lookup was counted')
    assert.equal(sample(after, 'didcomm_mesh_outbox_depth'), 0)
    assert.ok(sample(after, 'didcomm_mesh_peers') >= 1)
    // @libp2p/prometheus-metrics keeps its metric objects per process: they report in the registry of
    // the first node started here (a node in production runs alone in its process).
    assert.match(await scrape(home), /^libp2p_data_transfer_bytes_total\{protocol="[^"]+"\} \d+/m, "libp2p's own metrics are in the scrape")
  })

  it('/ready lists its checks; with bootstrap peers configured it waits for one', async () => {
    const ready = await fetch(new URL('ready', relay.url))
    assert.equal(ready.status, 200)
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { started: true, store: true, libp2p: true, peers: true } })

    const lonely = await nodes.start({ bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQ6M23eSchnVgdTRQiLjRkPGkZqyFnm1DHdeHgrQ7Er3W'] })
    const notReady = await fetch(new URL('ready', lonely.url))
    assert.equal(notReady.status, 503)
    assert.deepEqual(await notReady.json(), { status: 'not ready', checks: { started: true, store: true, libp2p: true, peers: false } })
    assert.equal((await fetch(new URL('health', lonely.url))).status, 200, 'health only says the process is up')
  })

  it('a bootstrap address without a peer ID is dialled by address, and the node becomes ready', async () => {
    const byAddress = home.info.multiaddrs.find(ma => ma.includes('/tcp/') && !ma.includes('/ws'))?.replace(/\/p2p\/.*$/, '') as string
    const joined = await nodes.start({ bootstrap: [byAddress] })
    await waitFor(() => joined.node.info().peers.includes(home.info.peerId) ? true : undefined, 15_000, 'a connection to the bootstrap node')
    const ready = await waitFor(async () => { const res = await fetch(new URL('ready', joined.url)); return res.status === 200 ? res : undefined }, 15_000, 'readiness')
    assert.equal((await ready.json() as { checks: { peers: boolean } }).checks.peers, true)
  })

  it('stopping a node closes its WebSockets with 1001 (going away), so live wallets reconnect', async () => {
    const leaving = await nodes.start()
    const socket = new WebSocket(leaving.wsUrl)
    await new Promise(resolve => socket.once('open', resolve))
    const closed = new Promise<[number, string]>(resolve => socket.once('close', (code, reason) => { resolve([code, String(reason)]) }))
    await leaving.stop()
    assert.deepEqual(await closed, [1001, 'node stopping'])
  })
})
