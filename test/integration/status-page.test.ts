/**
 * The operator's mesh view at /status on a three-node mesh of real libp2p nodes: refused without the
 * configured token (and absent without one), drawn with it: the graph shows the node's two peers, a
 * relay shows on the latency sparkline, and a relay to a stopped node waits in the outbox under that
 * node's shortened peer ID. It renders in a browser (Basic auth) under the page's own policy.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { shortPeerId } from '../../node/web/svg.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { BASIC, TestAgent, post, wrapForward } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const TOKEN = 'operator-token-for-the-mesh-view'

async function statusPage (node: TestNode, authorization?: string): Promise<{ status: number, html: string, headers: Headers }> {
  const res = await fetch(`${node.url}/status`, { headers: authorization === undefined ? {} : { authorization } })
  return { status: res.status, html: await res.text(), headers: res.headers }
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

describe('the mesh view at /status', () => {
  const nodes = testNodes('didcomm-mesh-status-')
  let browser: Browser
  let n1: TestNode
  let n2: TestNode
  let n3: TestNode

  before(async () => {
    browser = await launchBrowser()
    n1 = await nodes.start({ statusToken: TOKEN })
    ;[n2, n3] = await nodes.join(n1, [{}, {}]) as [TestNode, TestNode]
    await waitFor(() => n1.node.info().peers.length >= 2 ? true : undefined, 20_000, 'n2 and n3 to connect to n1')
  })
  after(async () => {
    await browser.close()
    await nodes.stopAll()
  })

  it('refuses without the token, saying why', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-of-some-length', basic('operator', 'wrong'), basic('', ''), 'Digest abc', 'Bearer', `Basic ${TOKEN}`]) {
      const { status, html, headers } = await statusPage(n1, authorization)
      assert.equal(status, 401, String(authorization))
      assert.match(headers.get('www-authenticate') ?? '', /^Basic realm="didcomm-mesh status"/)
      assert.match(html, /status token is needed|must be Basic|wrong status token/)
      assert.doesNotMatch(html, new RegExp(n2.info.peerId), 'nothing of the mesh')
    }
  })

  it("draws the node's peers: the two other nodes of the mesh", async () => {
    for (const authorization of [`Bearer ${TOKEN}`, basic('anyone', TOKEN)]) {
      const { status, html } = await statusPage(n1, authorization)
      assert.equal(status, 200)
      const graph = /<svg class="graph"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? ''
      for (const peer of [n2, n3]) {
        assert.ok(graph.includes(`<title>${peer.info.peerId}</title>`), `the graph names ${peer.url}'s peer`)
        assert.ok(graph.includes(`>${shortPeerId(peer.info.peerId)}</text>`), `and labels it ${shortPeerId(peer.info.peerId)}`)
      }
      assert.equal(graph.match(/<circle class="peer"/g)?.length, n1.node.info().peers.length)
    }
  })

  it('shows a relay on the latency sparkline and the route lookup that found its next hop', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(n2)
    const business = new TestAgent()
    await business.mediate(n1.url, n1.did)
    const inner = await business.pack(business.message(BASIC, { content: 'relayed past the status page' }, pairwise), pairwise, business.did, { forward: true })
    assert.equal((await post(n1.url, await wrapForward(business, inner, n2.did, n1.did, business.did))).status, 202)
    await waitFor(async () => (await wallet.pickup(n2.url, n2.did, { ack: true })).length > 0 ? true : undefined, 20_000, 'the relayed message')

    const { html } = await waitFor(async () => {
      const page = await statusPage(n1, `Bearer ${TOKEN}`)
      return /<polyline class="line" points="[\d.]+,[\d.]+/.test(page.html) ? page : undefined
    }, 10_000, 'a point on the sparkline')
    assert.match(html, /Last 1 relay attempt, over \d+m \d+s: median [\d.]+ ms, slowest [\d.]+ ms, 0 not accepted\./)
    const found = ['connected', 'dht-provider', 'dht-peer', 'did-doc'].reduce((sum, source) => sum + Number(new RegExp(`<td>${source}</td><td class="n">(\\d+)</td>`).exec(html)?.[1] ?? NaN), 0)
    assert.ok(found >= 1, 'a route lookup was counted')
  })

  it('lists what waits in the outbox by next hop, shortened peer ID first', async () => {
    const { pairwise } = await TestAgent.mediatedWallet(n3)
    await n3.stop()
    const business = new TestAgent()
    await business.mediate(n1.url, n1.did)
    const inner = await business.pack(business.message(BASIC, { content: 'waits for n3' }, pairwise), pairwise, business.did, { forward: true })
    assert.equal((await post(n1.url, await wrapForward(business, inner, n3.did, n1.did, business.did))).status, 202)

    // The row shows as soon as the relay is queued; its failed rounds, and when it is tried again, once the first attempt has failed.
    const row = await waitFor(async () => {
      const { html } = await statusPage(n1, `Bearer ${TOKEN}`)
      const match = new RegExp(`<tr><td class="mono" title="${n3.info.peerId}">${shortPeerId(n3.info.peerId)}</td><td class="mono">did:peer:2#[0-9a-f]{12}</td><td class="n">1</td><td class="n">(\\d+)</td><td>(sending|retry in \\dm \\d+s)</td></tr>`).exec(html)
      return match !== null && Number(match[1]) >= 1 && match[2] !== 'sending' ? match : undefined
    }, 20_000, "n3's row in the outbox table, with a failed round towards the stopped node and the wait for the next")
    assert.equal(row[0].includes(shortPeerId(n3.info.peerId)), true)
    assert.doesNotMatch((await statusPage(n1, `Bearer ${TOKEN}`)).html, new RegExp(n3.did.slice(0, 40)), 'the mediator DID only as a keyed hash')
  })

  it('renders in a browser with Basic auth, breaking none of its policy', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: TOKEN }, viewport: { width: 375, height: 800 } })
    const page = await context.newPage()
    const problems: string[] = []
    const requests: string[] = []
    page.on('console', message => { if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text()) })
    page.on('request', request => { requests.push(new URL(request.url()).pathname) })
    assert.equal((await page.goto(`${n1.url}/status`))?.status(), 200)
    assert.equal(await page.locator('svg.graph circle.peer').count(), n1.node.info().peers.length)
    assert.ok(((await page.locator('svg.graph').boundingBox())?.width ?? 0) > 300, 'the graph spans the phone screen')
    assert.deepEqual(problems, [])
    assert.deepEqual(new Set(requests), new Set(['/status', '/home/style.css']))
    await context.close()
  })

  it('is not served when no token is configured', async () => {
    assert.equal((await statusPage(n2, `Bearer ${TOKEN}`)).status, 404)
  })
})
