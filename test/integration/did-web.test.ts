/**
 * A stable identity: with `didWeb` the node serves a did:web document (the keys and services of its
 * did:peer:2) and names the did:web in invitations and grants, while its did:peer DIDs keep working.
 * did:web documents are fetched over HTTPS, here from a local server with a self-signed certificate
 * the test trusts, which hands out the node's own document as a TLS proxy in front of it would;
 * other nodes resolve a did:web `next` the same way, under the relay's destination rules, with a
 * size cap and a cache.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:https'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createResolver } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { DID_WEB_MAX_BYTES, createDidWebFetcher } from '../../node/mesh/did-web-fetch.ts'
import { BASIC, FrameSocket, PICKUP3, TestAgent, post, sendTo, wrapForward } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'
import { localhostCertificate, trust } from '../helpers/tls.ts'

/** The tests' wallets and senders resolve did:web too (over HTTPS, loopback allowed). */
const webResolver = createResolver({ fetchDidWeb: createDidWebFetcher({ privateDestinations: true }) })
class WebAgent extends TestAgent {
  override readonly resolver: DIDResolver = webResolver
}

describe('did:web: a stable mediator DID', () => {
  const nodes = testNodes()
  let untrust: () => void
  let server: Server
  let domain: string
  let home: TestNode
  let didWeb: string
  /** Where the HTTPS server takes /.well-known/did.json from; requests counted by path. */
  let origin = ''
  const hits = new Map<string, number>()

  before(async () => {
    const { cert, key } = await localhostCertificate()
    untrust = trust(cert)
    server = createServer({ cert, key }, (request, response) => {
      const path = request.url ?? ''
      hits.set(path, (hits.get(path) ?? 0) + 1)
      if (path === '/big/did.json') return response.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"${'x'.repeat(DID_WEB_MAX_BYTES)}"}`)
      if (path === '/moved/did.json') return response.writeHead(301, { location: '/.well-known/did.json' }).end()
      void fetch(origin + path).then(async answer => {
        response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text())
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    // did:web writes the port of its host as %3A.
    domain = `localhost%3A${(server.address() as AddressInfo).port}`
    didWeb = `did:web:${domain}`
    home = await nodes.start({ didWeb: domain })
    origin = home.url
  })

  after(async () => {
    await nodes.stopAll()
    await new Promise(resolve => server.close(resolve))
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
    const [entry] = await nodes.join(home, [{}])
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
    const strict = await nodes.start({ relayPrivateDestinations: false })
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
    const fetchDoc = createDidWebFetcher({ privateDestinations: true })
    const port = domain.split('%3A')[1] as string
    await assert.rejects(fetchDoc(`https://localhost:${port}/big/did.json`), /larger than/)
    await assert.rejects(fetchDoc(`https://localhost:${port}/moved/did.json`), /answered 301/)
    await assert.rejects(fetchDoc(`http://localhost:${port}/.well-known/did.json`), /does not fetch/)
    await assert.rejects(createDidWebFetcher()(`https://localhost:${port}/.well-known/did.json`), /does not relay|does not fetch|does not connect/)
    await assert.rejects(createDidWebFetcher()(`https://127.0.0.1:${port}/.well-known/did.json`), /does not connect/)

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

  it('refuses a --did-web that is not a did:web method-specific id', async () => {
    await assert.rejects(nodes.start({ didWeb: 'https://mediator.example' }), /didWeb|did-web/)
    await assert.rejects(nodes.start({ didWeb: 'example.com/path' }), /didWeb|did-web/)
  })
})

