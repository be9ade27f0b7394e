/**
 * A stable identity: with `didWeb` the node serves a did:web document (the keys and services of its
 * did:peer:2) and names the did:web in invitations and grants, while its did:peer DIDs keep working.
 * did:web documents are fetched over HTTPS, here from a local server with a self-signed certificate
 * the test trusts, which hands out the node's own document as a TLS proxy in front of it would;
 * other nodes resolve a did:web `next` the same way, under the relay's destination rules, with a
 * size cap and a cache, from the ports --did-web-ports allows (443 unless the test names its
 * server's), one fetch per URL at a time and a few at once.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:https'
import type { Server } from 'node:https'
import { createServer as createTcpServer } from 'node:net'
import type { AddressInfo, Server as TcpServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createResolver } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { DID_WEB_MAX_BYTES, createDidWebFetcher } from '../../node/mesh/did-web-fetch.ts'
import { BASIC, FrameSocket, PICKUP3, TestAgent, post, sendTo, wrapForward } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'
import { localhostCertificate, trust } from '../helpers/tls.ts'

/** The tests' wallets and senders resolve did:web too (over HTTPS, loopback and the test server's port allowed; made in `before`). */
let webResolver: DIDResolver
class WebAgent extends TestAgent {
  override readonly resolver: DIDResolver = webResolver
}

/**
 * A JWE to `node`'s did:peer authcrypted by a new party, its sender key id (skid, and apu, which must
 * match) then rewritten to `skid`: the node looks the sender's key up, resolving its DID, before
 * anything in the message is authenticated.
 */
async function claimingSender (node: TestNode, skid: string): Promise<string> {
  const agent = new TestAgent()
  const peer = node.info.dids[0] as string
  const jwe = JSON.parse(await agent.pack(agent.message(BASIC, { content: 'x' }, peer), peer)) as { protected: string }
  const header = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString('utf8')) as Record<string, unknown>
  const forged = { ...header, skid, apu: Buffer.from(skid).toString('base64url') }
  return JSON.stringify({ ...jwe, protected: Buffer.from(JSON.stringify(forged)).toString('base64url') })
}

describe('did:web: a stable mediator DID', () => {
  const nodes = testNodes()
  let untrust: () => void
  let server: Server
  let domain: string
  let port: number
  let home: TestNode
  let didWeb: string
  /** Where the HTTPS server takes /.well-known/did.json from; requests counted by path. */
  let origin = ''
  const hits = new Map<string, number>()
  /** /slow/… documents are held until the gate opens. */
  let gate: Promise<void> = Promise.resolve()
  /** A TCP server that counts connections and closes each at once (no TLS: a host that does not answer HTTPS). */
  let closing: TcpServer
  let connections = 0

  before(async () => {
    const { cert, key } = await localhostCertificate()
    untrust = trust(cert)
    server = createServer({ cert, key }, (request, response) => {
      const path = request.url ?? ''
      hits.set(path, (hits.get(path) ?? 0) + 1)
      if (path === '/big/did.json') return response.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"${'x'.repeat(DID_WEB_MAX_BYTES)}"}`)
      if (path === '/moved/did.json') return response.writeHead(301, { location: '/.well-known/did.json' }).end()
      if (path.startsWith('/slow/')) {
        // The node's document under the did:web that names this path.
        const did = `did:web:${domain}${path.slice(0, -'/did.json'.length).replaceAll('/', ':')}`
        void gate.then(async () => await fetch(`${origin}/.well-known/did.json`)).then(async answer => {
          response.writeHead(200, { 'content-type': 'application/json' }).end((await answer.text()).replaceAll(didWeb, did))
        })
        return
      }
      void fetch(origin + path).then(async answer => {
        response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text())
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
    // did:web writes the port of its host as %3A.
    domain = `localhost%3A${port}`
    didWeb = `did:web:${domain}`
    webResolver = createResolver({ fetchDidWeb: createDidWebFetcher({ privateDestinations: true, ports: [port] }) })
    closing = createTcpServer(socket => {
      connections++
      socket.destroy()
    })
    await new Promise<void>(resolve => closing.listen(0, '127.0.0.1', resolve))
    home = await nodes.start({ didWeb: domain })
    origin = home.url
  })

  after(async () => {
    await nodes.stopAll()
    await new Promise(resolve => server.close(resolve))
    await new Promise(resolve => closing.close(resolve))
    untrust()
  })

  it('serves its document at /.well-known/did.json with the keys and services of its did:peer:2, and names the did:web in its invitation', async () => {
    const answer = await fetch(`${home.url}/.well-known/did.json`)
    assert.equal(answer.status, 200)
    assert.match(answer.headers.get('content-type') ?? '', /^application\/did\+json/)
    assert.equal(((await answer.json()) as { id: string }).id, didWeb)

    assert.equal(home.info.did, didWeb, 'the current DID')
    const peer = home.info.dids.find(did => did.startsWith('did:peer:2'))
    assert.ok(peer)
    assert.equal(home.info.dids.at(-1), didWeb)
    const [web, own] = [await webResolver.resolve(didWeb), await webResolver.resolve(peer)]
    assert.ok(web && own)
    const jwks = (doc: typeof web): unknown[] => doc.verificationMethod.map(vm => vm.publicKeyJwk)
    assert.deepEqual(jwks(web), jwks(own))
    assert.deepEqual(web.keyAgreement, [`${didWeb}#key-1`])
    assert.deepEqual(web.service.map(s => s.serviceEndpoint.uri), own.service.map(s => s.serviceEndpoint.uri))
    assert.equal(((await (await fetch(`${home.url}/oob`)).json()) as { invitation: { from: string } }).invitation.from, didWeb)
  })

  it('a wallet mediates with the did:web, gets it as routing_did, and receives through it; a wallet that speaks to the did:peer keeps the did:peer', async () => {
    const wallet = new WebAgent()
    const grant = await wallet.mediate(home.url, didWeb)
    assert.deepEqual(grant.body.routing_did, [didWeb])
    assert.equal(grant.from, didWeb)
    const pairwise = await wallet.pairwiseDid(home.url, didWeb)

    const sender = new WebAgent()
    const message = sender.message(BASIC, { content: 'via did:web' }, pairwise)
    // The sender's library resolves the pairwise DID, finds the did:web as its mediator, resolves that over HTTPS.
    assert.equal((await sender.sendVia(home.url, message, pairwise, sender.did)).status, 202)
    const picked = await wallet.pickup(home.url, didWeb, { ack: true })
    assert.deepEqual(picked.map(r => r.message.id), [message.id])

    const old = new TestAgent()
    const peer = home.info.dids[0] as string
    // Such a wallet (Identus, configured with the did:peer) may not resolve did:web: its grant names the DID it spoke to.
    const oldGrant = await old.mediate(home.url, peer)
    assert.deepEqual(oldGrant.body.routing_did, [peer])
    assert.equal(oldGrant.from, peer)
  })

  it('a wallet live on a socket to the did:peer gets pushes from the did:peer (it may not resolve did:web)', async () => {
    // TestAgent resolves did:peer only: it could not open a push from the did:web.
    const wallet = new TestAgent()
    const peer = home.info.dids[0] as string
    await wallet.mediate(home.url, peer)
    const pairwise = await wallet.pairwiseDid(home.url, peer)
    const socket = await FrameSocket.open(home.wsUrl)
    try {
      socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, peer), peer))
      assert.equal((await wallet.unpack((await socket.frame(0)).text)).message.type, `${PICKUP3}/status`)
      const sent = await sendTo(home, pairwise, 'live via did:peer')
      const delivery = (await wallet.unpack((await socket.frame(1)).text)).message
      assert.equal(delivery.from, peer)
      assert.equal((await wallet.unpack(Buffer.from(delivery.attachments?.[0]?.data.base64 ?? '', 'base64').toString())).message.id, sent.id)
    } finally {
      await socket.close()
    }
  })

  it('another mesh node relays to a did:web next hop, resolved over HTTPS to its libp2p peer', async () => {
    const [entry] = await nodes.join(home, [{ didWebPorts: [port] }])
    assert.ok(entry)
    const wallet = new WebAgent()
    await wallet.mediate(home.url, didWeb)
    const pairwise = await wallet.pairwiseDid(home.url, didWeb)
    const business = new WebAgent()
    await business.mediate(entry.url, entry.did)
    const message = business.message(BASIC, { content: 'across the mesh' }, pairwise)
    assert.equal((await business.sendThrough(entry, message, pairwise, didWeb)).status, 202)
    const picked = await waitFor(async () => {
      const got = await wallet.pickup(home.url, didWeb)
      return got.length > 0 ? got : undefined
    }, 10_000, 'the relayed message at the did:web node')
    assert.deepEqual(picked.map(r => r.message.id), [message.id])
  })

  it('a node that may not reach loopback does not fetch a did:web there: the forward is refused', async () => {
    const strict = await nodes.start({ relayPrivateDestinations: false, didWebPorts: [port] })
    const client = new WebAgent()
    await client.mediate(strict.url, strict.did)
    const before = hits.get('/.well-known/did.json') ?? 0
    const peer = home.info.dids[0] as string
    const inner = await client.pack(client.message(BASIC, { content: 'x' }, peer), peer)
    const answer = await post(strict.url, await wrapForward(client, inner, didWeb, strict.did, client.did))
    assert.equal(answer.status, 422)
    assert.equal((await client.unpack(answer.text)).message.body.code, 'e.p.req.unknown-recipient')
    assert.equal(hits.get('/.well-known/did.json') ?? 0, before, 'no request reached the server')
  })

  it('fetching: a size cap, no redirects, HTTPS only, loopback only when allowed, and a cache of documents and of failures', async () => {
    const fetchDoc = createDidWebFetcher({ privateDestinations: true, ports: [port] })
    await assert.rejects(fetchDoc(`https://localhost:${port}/big/did.json`), /larger than/)
    await assert.rejects(fetchDoc(`https://localhost:${port}/moved/did.json`), /answered 301/)
    await assert.rejects(fetchDoc(`http://localhost:${port}/.well-known/did.json`), /does not fetch/)
    const publicOnly = createDidWebFetcher({ ports: [port] })
    await assert.rejects(publicOnly(`https://localhost:${port}/.well-known/did.json`), /does not relay/)
    await assert.rejects(publicOnly(`https://127.0.0.1:${port}/.well-known/did.json`), /does not connect/)

    const resolver = createResolver({ fetchDidWeb: fetchDoc })
    const before = hits.get('/.well-known/did.json') ?? 0
    assert.equal((await resolver.resolve(didWeb))?.id, didWeb)
    assert.equal((await resolver.resolve(didWeb))?.id, didWeb)
    assert.equal((hits.get('/.well-known/did.json') ?? 0) - before, 1, 'fetched once, then cached')
    const bigBefore = hits.get('/big/did.json') ?? 0
    assert.equal(await resolver.resolve(`did:web:${domain}:big`), null)
    assert.equal(await resolver.resolve(`did:web:${domain}:big`), null)
    assert.equal((hits.get('/big/did.json') ?? 0) - bigBefore, 1, 'a failure is remembered too: naming it again costs no fetch')
    assert.equal(await resolver.resolve('did:web:exa_mple.com'), null, 'not a host name')
    // A document whose id is another DID is not this DID's.
    const lying = createResolver({ fetchDidWeb: async () => ({ id: 'did:web:elsewhere.example', verificationMethod: [], keyAgreement: [], authentication: [], service: [] }) })
    assert.equal(await lying.resolve('did:web:mediator.example'), null)
  })

  it('resolutions of one did:web at the same time make one fetch; past 8 fetches at once a did:web fails at once, then resolves once they are done', async () => {
    const resolver = createResolver({ fetchDidWeb: createDidWebFetcher({ privateDestinations: true, ports: [port] }) })
    const slowHits = (): number => [...hits].filter(([path]) => path.startsWith('/slow/')).reduce((sum, [, n]) => sum + n, 0)
    let open = (): void => {}
    gate = new Promise(resolve => { open = resolve })
    const before = slowHits()
    const one = `did:web:${domain}:slow:one`
    const same = Array.from({ length: 50 }, async () => await resolver.resolve(one))
    const others = Array.from({ length: 7 }, async (_, i) => await resolver.resolve(`did:web:${domain}:slow:${i}`))
    await waitFor(() => slowHits() - before === 8 ? true : undefined, 10_000, 'eight fetches at the server')

    const started = Date.now()
    assert.equal(await resolver.resolve(`did:web:${domain}:slow:ninth`), null, 'a ninth fetch is not queued')
    assert.ok(Date.now() - started < 1000, 'it fails at once')
    open()
    assert.deepEqual(new Set((await Promise.all(same)).map(doc => doc?.id)), new Set([one]))
    assert.equal((await Promise.all(others)).filter(doc => doc !== null).length, 7)
    assert.equal(hits.get('/slow/one/did.json'), 1, '50 resolutions, one fetch')
    assert.equal((await resolver.resolve(`did:web:${domain}:slow:ninth`))?.id, `did:web:${domain}:slow:ninth`, 'the refused one was not remembered as failed')
    assert.equal(slowHits() - before, 9)
  })

  it('a sender key on a did:web port the operator did not allow costs no connection; on an allowed one, one connection per host that fails, whatever the path', async () => {
    const closingPort = (closing.address() as AddressInfo).port
    const host = `localhost%3A${closingPort}`
    // The test nodes allow loopback: only the port rule stands between them and the server.
    const strict = await nodes.start({})
    const answer = await post(strict.url, await claimingSender(strict, `did:web:${host}#key-1`))
    assert.equal(answer.status, 400, answer.text)
    assert.equal(connections, 0, 'port 443 only, by default: no connection was made')

    const open = await nodes.start({ didWebPorts: [closingPort] })
    assert.equal((await post(open.url, await claimingSender(open, `did:web:${host}#key-1`))).status, 400)
    assert.equal(connections, 1, 'with the port allowed the node does connect')
    for (const skid of [`did:web:${host}:a#key-1`, `did:web:${host}:b:c#key-1`]) {
      assert.equal((await post(open.url, await claimingSender(open, skid))).status, 400)
    }
    assert.equal(connections, 1, 'the host failed a moment ago: other paths on it are not tried')
  })

  it('refuses a --did-web that is not a did:web method-specific id', async () => {
    await assert.rejects(nodes.start({ didWeb: 'https://mediator.example' }), /didWeb|did-web/)
    await assert.rejects(nodes.start({ didWeb: 'example.com/path' }), /didWeb|did-web/)
  })
})

