/**
 * A node behind a real TLS proxy: nginx with deploy/nginx.conf on 127.0.0.1, a certificate made by
 * the test, the node trusting 127.0.0.1 as its proxy. Clients get distinct loopback source addresses
 * (127.0.0.2, 127.0.0.3, …) so each is a different wallet to the proxy and, through it, to the node.
 */
import assert from 'node:assert/strict'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { BASIC_MESSAGE, MeshAgent } from '../../client/index.ts'
import type { ReceivedMessage } from '../../client/index.ts'
import { BASIC, PICKUP3, TestAgent } from '../helpers/client.ts'
import { boundClient, freePort, nginxMissing, startNginx } from '../helpers/nginx.ts'
import type { BoundClient, TestNginx } from '../helpers/nginx.ts'
import { startTestNodeWithLogs, testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode, TestNode } from '../helpers/node.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const skip = nginxMissing()

/** A node whose public URL is nginx's, and nginx in front of it. */
async function proxiedNode<T extends TestNode> (start: (flags: Record<string, unknown>) => Promise<T>, flags: Record<string, unknown> = {}, changes: Array<[RegExp, string]> = []): Promise<{ node: T, proxy: TestNginx }> {
  const port = await freePort()
  const node = await start({ publicUrl: `https://127.0.0.1:${port}`, trustProxy: ['127.0.0.1'], ...flags })
  const proxy = await startNginx(port, node.url, changes)
  // The client library and fetch trust the default CAs: add the test's (operators would use NODE_EXTRA_CA_CERTS).
  setDefaultCACertificates([...getCACertificates('default'), proxy.cert])
  return { node, proxy }
}

async function openSocket (url: string, options: WebSocket.ClientOptions): Promise<{ ws: WebSocket, frames: string[], closed: Promise<number> }> {
  const ws = new WebSocket(url, options)
  const frames: string[] = []
  ws.on('message', (data: Buffer) => frames.push(data.toString('utf8')))
  const closed = new Promise<number>(resolve => ws.once('close', resolve))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return { ws, frames, closed }
}

const codeOf = (text: string): string | undefined => (JSON.parse(text) as { body?: { code?: string } }).body?.code

describe('behind nginx: limits per real client', { skip }, () => {
  const nodes = testNodes()
  let node: LoggedTestNode
  let proxy: TestNginx
  const clients: BoundClient[] = []
  const client = (address: string): BoundClient => {
    const made = boundClient(address, proxy.cert)
    clients.push(made)
    return made
  }

  before(async () => {
    const dataDir = await nodes.dir()
    ;({ node, proxy } = await proxiedNode(async flags => await startTestNodeWithLogs({ ...flags, dataDir }), { rateLimit: 5, rateBurst: 5 }))
  })
  after(async () => {
    for (const made of clients) made.close()
    await proxy.stop()
    await node.stop()
    await nodes.stopAll()
  })

  it('two wallets behind the proxy are limited separately, whatever X-Forwarded-For they forge; a forger going around the proxy is limited by its own address', async () => {
    const a = client('127.0.0.2')
    const b = client('127.0.0.3')
    // Each of a's requests claims another address: nginx appends a's real one, which the node takes.
    const flood = await Promise.all(Array.from({ length: 12 }, async (_, i) => await a.post(proxy.url, '{}', { 'x-forwarded-for': `10.9.0.${i}` })))
    const limited = flood.filter(answer => answer.status === 429)
    assert.ok(limited.length >= 6, `a got past its burst of 5: ${flood.map(r => r.status).join(',')}`)
    assert.equal(codeOf(limited[0]?.text ?? '{}'), 'e.p.req.rate-limited')
    const other = await Promise.all(Array.from({ length: 4 }, async () => await b.post(proxy.url, '{}')))
    assert.deepEqual(other.map(r => r.status === 429), [false, false, false, false], 'b has its own budget')

    // Straight to the node from an untrusted address: its forged header is not believed.
    const forger = client('127.0.0.4')
    const direct = await Promise.all(Array.from({ length: 12 }, async (_, i) => await forger.post(node.url, '{}', { 'x-forwarded-for': `10.8.0.${i}`, forwarded: `for=10.7.0.${i}` })))
    assert.ok(direct.filter(r => r.status === 429).length >= 6, direct.map(r => r.status).join(','))

    const metrics = await (await fetch(new URL('metrics', node.url))).text()
    assert.match(metrics, /^didcomm_mesh_rate_limited_total (\d+)$/m)
    assert.ok(Number(/^didcomm_mesh_rate_limited_total (\d+)$/m.exec(metrics)?.[1]) >= 12)
    // Logged as a keyed hash of the real address, never the address.
    const logs = node.logs()
    assert.match(logs, /"ip":"ip#[0-9a-f]{12}","transport":"http","msg":"rate limited"/)
    assert.doesNotMatch(logs, /127\.0\.0\.[234]|10\.[987]\.0\./)
    assert.doesNotMatch(logs, /set --public-url/, 'the DID names the https URL nginx serves')
  })

  it('WebSocket through the proxy: the upgrade request counts for the real client', async () => {
    await sleep(1100)
    const wss = `${proxy.url.replace(/^https/, 'wss')}/ws`
    const a = client('127.0.0.2')
    await Promise.all(Array.from({ length: 8 }, async () => await a.post(proxy.url, '{}')))
    const sockets = await Promise.all(['127.0.0.2', '127.0.0.3'].map(async localAddress => await openSocket(wss, { ca: proxy.cert, localAddress })))
    try {
      // a sends more than the tokens its bucket can regain while the sockets open on a busy machine (5 a second).
      const [sentA, sentB] = [8, 3]
      sockets.forEach(({ ws }, i) => { for (let n = 0; n < (i === 0 ? sentA : sentB); n++) ws.send('{}') })
      await waitFor(() => sockets[0]?.frames.length === sentA && sockets[1]?.frames.length === sentB ? true : undefined, 10_000, 'answers on both sockets')
      const [fromA, fromB] = sockets.map(s => s.frames.map(codeOf))
      const limitedA = fromA?.filter(code => code === 'e.p.req.rate-limited').length ?? 0
      assert.ok(limitedA >= 3, `a spent its budget over HTTP: ${fromA?.join(',')}`)
      assert.ok(fromB?.every(code => code === 'e.p.msg.unencrypted'), `b is served: ${fromB?.join(',')}`)
    } finally {
      for (const { ws } of sockets) ws.close()
    }
  })
})

describe('behind nginx: the https and wss endpoints the DID names', { skip }, () => {
  const nodes = testNodes('didcomm-mesh-proxy-')
  let node: TestNode
  let proxy: TestNginx

  before(async () => {
    // Pings every 2 s (the node pings at min(30 s, idle timeout)); nginx drops a connection silent for 4 s.
    ;({ node, proxy } = await proxiedNode(async flags => await nodes.start(flags), { rateLimit: 100, rateBurst: 200, websocketIdleSeconds: 2 }, [[/proxy_read_timeout 120s;/, 'proxy_read_timeout 4s;']]))
  })
  after(async () => {
    await proxy.stop()
    await nodes.stopAll()
  })

  it('the mediator DID, the invitation and /info name https:// and wss:// endpoints; libp2p addresses stay as configured', async () => {
    const port = new URL(proxy.url).port
    const info = await (await fetch(`${proxy.url}/info`)).json() as { endpoints: { http: string, ws: string }, multiaddrs: string[] }
    assert.deepEqual(info.endpoints, { http: `https://127.0.0.1:${port}`, ws: `wss://127.0.0.1:${port}/ws`, libp2p: `libp2p-peerId:${node.info.peerId}` })
    assert.ok(info.multiaddrs.every(ma => ma.startsWith('/ip4/127.0.0.1/tcp/')), info.multiaddrs.join(' '))
    const invitation = await (await fetch(`${proxy.url}/oob`)).json() as { url: string }
    assert.ok(invitation.url.startsWith(`https://127.0.0.1:${port}/?_oob=`), invitation.url)
    const services = (await new TestAgent().resolver.resolve(node.did))?.service.map(s => s.serviceEndpoint.uri)
    assert.deepEqual(services?.slice(0, 2), [info.endpoints.http, info.endpoints.ws])
  })

  it('mediation, a forward, live delivery and pickup with the client library, through the proxy only', async () => {
    const business = await MeshAgent.open(await nodes.dir())
    const customer = await MeshAgent.open(await nodes.dir())
    // The invitation and the DID name only nginx's https URL: every request goes through it.
    await business.connect((await (await fetch(`${proxy.url}/oob`)).json() as { url: string }).url)
    await customer.connect(node.did)
    await customer.acceptInvitation((await business.createInvitation({ label: 'Acme' })).url, { label: 'Alice' })
    await waitFor(async () => { await business.pickup(); return business.contacts.find(c => c.name === 'Alice') }, 20_000, 'the invitation to be accepted')

    const live: ReceivedMessage[] = []
    const connection = await customer.listen(message => { if (message.type === BASIC_MESSAGE) live.push(message) })
    try {
      // Longer than nginx's 4 s read timeout: the node's pings keep the socket open.
      await sleep(6000)
      await business.send('Alice', 'live through wss')
      await waitFor(() => live.length > 0 ? true : undefined, 10_000, 'the live delivery')
      assert.equal(live[0]?.body.content, 'live through wss')
    } finally {
      await connection.close()
    }
    await business.send('Alice', 'picked up through https')
    const picked = await waitFor(async () => {
      const got = (await customer.pickup()).filter(m => m.type === BASIC_MESSAGE)
      return got.length > 0 ? got : undefined
    }, 10_000, 'the pickup')
    assert.equal(picked[0]?.body.content, 'picked up through https')
  })

  it('a live socket outlives the proxy idle timeout on the node pings; an idle socket is closed by the node (1000), not dropped by the proxy', async () => {
    const wallet = new TestAgent()
    await wallet.mediate(proxy.url, node.did)
    const pairwise = await wallet.pairwiseDid(proxy.url, node.did)
    const wss = `${proxy.url.replace(/^https/, 'wss')}/ws`
    const liveSocket = await openSocket(wss, { ca: proxy.cert })
    const idleSocket = await openSocket(wss, { ca: proxy.cert })
    try {
      liveSocket.ws.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did, { return_route: 'all' }), node.did))
      await waitFor(() => liveSocket.frames.length > 0 ? true : undefined, 10_000, 'the live-mode status')
      assert.equal(await idleSocket.closed, 1000)
      await sleep(6000)
      const sender = new TestAgent()
      const answer = await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: await sender.pack(sender.message(BASIC, { content: 'after 6 s' }, pairwise), pairwise, sender.did, { forward: true }) })
      assert.equal(answer.status, 202)
      await waitFor(() => liveSocket.frames.length > 1 ? true : undefined, 10_000, 'the push on the same socket')
      assert.equal(liveSocket.ws.readyState, WebSocket.OPEN)
    } finally {
      liveSocket.ws.close()
    }
  })
})

describe('behind nginx: honest load with the default limits', { skip }, () => {
  const nodes = testNodes()
  let node: TestNode
  let proxy: TestNginx

  before(async () => {
    ;({ node, proxy } = await proxiedNode(async flags => await nodes.start(flags), { rateLimit: 100, rateBurst: 200 }))
  })
  after(async () => {
    await proxy.stop()
    await nodes.stopAll()
  })

  it('three senders at 60 forwards a second each and a polling wallet get no 429', async () => {
    const seconds = 5
    const rate = 60
    const wallet = new TestAgent()
    await wallet.mediate(proxy.url, node.did)
    const pairwise = await wallet.pairwiseDid(proxy.url, node.did)
    const senders = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(async address => {
      const agent = new TestAgent()
      const forwards = []
      for (let i = 0; i < seconds * rate; i++) forwards.push(await agent.pack(agent.message(BASIC, { content: `${address} ${i}` }, pairwise), pairwise, agent.did, { forward: true, protect_sender: true }))
      return { client: boundClient(address, proxy.cert), forwards }
    }))
    const poller = boundClient('127.0.0.5', proxy.cert)
    const statuses: number[] = []
    const received = new Set<string>()
    let sending = true
    const poll = async (): Promise<void> => {
      while (sending || received.size < senders.length * seconds * rate) {
        // Only an empty delivery asked for after the last forward was accepted means the mailbox is drained.
        const askedAfterSending = !sending
        const answer = await poller.post(proxy.url, await wallet.pack(wallet.message(`${PICKUP3}/delivery-request`, { limit: 100 }, node.did), node.did))
        statuses.push(answer.status)
        const reply = answer.status === 200 ? (await wallet.unpack(answer.text)).message : undefined
        const ids = (reply?.attachments ?? []).map(attachment => attachment.id ?? '')
        if (ids.length === 0) {
          if (askedAfterSending) break
          await sleep(200)
          continue
        }
        for (const id of ids) received.add(id)
        const ack = await poller.post(proxy.url, await wallet.pack(wallet.message(`${PICKUP3}/messages-received`, { message_id_list: ids }, node.did), node.did))
        statuses.push(ack.status)
      }
    }
    try {
      const polling = poll()
      const start = performance.now()
      // Open loop: each forward leaves on schedule, whether or not the previous one was answered.
      const answers = await Promise.all(senders.flatMap(({ client, forwards }) => forwards.map(async (forward, i) => {
        await sleep(Math.max(0, start + i * 1000 / rate - performance.now()))
        return (await client.post(proxy.url, forward)).status
      })))
      sending = false
      await polling
      assert.equal(answers.filter(status => status === 429).length, 0, 'no forward was rate limited')
      assert.deepEqual([...new Set(answers)], [202])
      assert.equal(statuses.filter(status => status === 429).length, 0, 'the wallet was never rate limited')
      assert.equal(received.size, senders.length * seconds * rate, 'the wallet got every message')
    } finally {
      for (const { client } of senders) client.close()
      poller.close()
    }
  })
})

describe('trusted proxy headers, without the proxy', () => {
  const nodes = testNodes()
  after(async () => { await nodes.stopAll() })

  it('a trusted proxy reporting https to a node whose DID names http gets the operator one warning', async () => {
    const node = await startTestNodeWithLogs({ trustProxy: ['127.0.0.1'], dataDir: await nodes.dir(), logLevel: 'warn' })
    try {
      for (let i = 0; i < 3; i++) await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.7' }, body: '{}' })
      assert.equal(node.logs().match(/set --public-url to the https URL/g)?.length, 1, node.logs())
    } finally {
      await node.stop()
    }
  })
})
