import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { fromString } from 'uint8arrays'
import { createPeerDid2, createResolver } from '../../didcomm/resolver.ts'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { createRoutes, mediatorKey } from '../../node/mesh/routes.ts'

const logger = pino({ level: 'silent' })

const rawKey = (pair: { privateKey: KeyObject }): Uint8Array => fromString(pair.privateKey.export({ format: 'jwk' }).x ?? '', 'base64url')

function didWith (uris: string[]): string {
  return createPeerDid2({
    keyAgreement: [rawKey(generateKeyPairSync('x25519'))],
    authentication: [rawKey(generateKeyPairSync('ed25519'))],
    services: uris.map(uri => ({ uri }))
  })
}

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

interface Provider { id: PeerId, multiaddrs: Multiaddr[] }

/** Only what routes uses of libp2p, recording every call. */
function stubLibp2p (opts: { connected?: Set<string>, providers?: Provider[], findPeer?: (peer: PeerId) => Promise<{ multiaddrs: Multiaddr[] }>, provideFailures?: number } = {}) {
  const calls = {
    findProviders: [] as CID[],
    provide: [] as CID[],
    findPeer: [] as string[],
    merge: [] as Array<{ peer: string, addrs: string[] }>,
    getConnections: 0,
    listeners: new Map<string, unknown>()
  }
  const libp2p = {
    contentRouting: {
      async * findProviders (key: CID) {
        calls.findProviders.push(key)
        yield * (opts.providers ?? [])
      },
      async provide (key: CID) {
        calls.provide.push(key)
        if (calls.provide.length <= (opts.provideFailures ?? 0)) throw new Error('query aborted')
      }
    },
    peerRouting: {
      async findPeer (peer: PeerId) {
        calls.findPeer.push(peer.toString())
        if (opts.findPeer === undefined) throw new Error('not found')
        return await opts.findPeer(peer)
      }
    },
    peerStore: {
      async merge (peer: PeerId, data: { multiaddrs: Multiaddr[] }) {
        calls.merge.push({ peer: peer.toString(), addrs: data.multiaddrs.map(a => a.toString()) })
      }
    },
    getConnections (peer: PeerId) {
      calls.getConnections++
      return opts.connected?.has(peer.toString()) === true ? [{}] : []
    },
    addEventListener (type: string, listener: unknown) { calls.listeners.set(type, listener) },
    removeEventListener (type: string, listener: unknown) { if (calls.listeners.get(type) === listener) calls.listeners.delete(type) }
  } as unknown as MeshLibp2p
  return { libp2p, calls }
}

const addr = (port: number): Multiaddr => multiaddr(`/ip4/192.0.2.1/tcp/${port}`)

describe('routes', () => {
  it('a connected peer named by the DID doc is the route, cached within the TTL, and looked up again after it or after forget', async t => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
    const peer = await newPeer()
    const did = didWith([`libp2p-peerId:${peer.toString()}`])
    const { libp2p, calls } = stubLibp2p({ connected: new Set([peer.toString()]) })
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger }, { cacheTtlMs: 1000 })

    const route = await routes.lookup(did)
    assert.equal(route?.kind, 'libp2p')
    assert.ok(route?.kind === 'libp2p' && route.peerId.equals(peer))
    assert.equal(routes.stats().lookups.connected, 1)
    assert.equal(calls.findProviders.length, 0, 'a connected peer needs no DHT query')

    t.mock.timers.tick(999)
    assert.deepEqual(await routes.lookup(did), route)
    assert.equal(routes.stats().lookups.cache, 1)
    assert.equal(calls.getConnections, 1, 'a cache hit asks libp2p nothing')

    t.mock.timers.tick(1)
    await routes.lookup(did)
    assert.equal(routes.stats().lookups.cache, 1, 'expired at the TTL')
    assert.equal(routes.stats().lookups.connected, 2)

    routes.forget(did)
    await routes.lookup(did)
    assert.equal(routes.stats().lookups.cache, 1, 'forgotten')
    assert.equal(routes.stats().lookups.connected, 3)
    await routes.lookup(did)
    assert.equal(routes.stats().lookups.cache, 2)
  })

  it('a provider not named by the DID doc is counted as unproven and ignored; the named one\'s addresses are stored', async () => {
    const peer = await newPeer()
    const impostor = await newPeer()
    const did = didWith([`libp2p-peerId:${peer.toString()}`])
    const { libp2p, calls } = stubLibp2p({ providers: [{ id: impostor, multiaddrs: [addr(1)] }, { id: peer, multiaddrs: [addr(2)] }] })
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger })

    const route = await routes.lookup(did)
    assert.ok(route?.kind === 'libp2p' && route.peerId.equals(peer))
    assert.equal(routes.stats().unprovenProviders, 1)
    assert.equal(routes.stats().lookups['dht-provider'], 1)
    assert.deepEqual(calls.merge, [{ peer: peer.toString(), addrs: [addr(2).toString()] }], 'the impostor\'s addresses are never stored')
    assert.ok(calls.findProviders[0]?.equals(await mediatorKey(did)), 'asks the DHT under the DID\'s hashed key')
    assert.equal(calls.findPeer.length, 0)
  })

  it('only unproven providers: falls back to peer routing for the named peer, then to the DID doc alone', async () => {
    const peer = await newPeer()
    const impostor = await newPeer()
    const did = didWith([`libp2p-peerId:${peer.toString()}`])
    const found = stubLibp2p({ providers: [{ id: impostor, multiaddrs: [addr(1)] }], findPeer: async () => ({ multiaddrs: [addr(3)] }) })
    const routes = createRoutes({ libp2p: found.libp2p, resolver: createResolver(), logger })
    const route = await routes.lookup(did)
    assert.ok(route?.kind === 'libp2p' && route.peerId.equals(peer))
    assert.equal(routes.stats().unprovenProviders, 1)
    assert.equal(routes.stats().lookups['dht-peer'], 1)
    assert.deepEqual(found.calls.findPeer, [peer.toString()])
    assert.deepEqual(found.calls.merge, [{ peer: peer.toString(), addrs: [addr(3).toString()] }])

    const lost = stubLibp2p({ providers: [{ id: impostor, multiaddrs: [addr(1)] }] })
    const routes2 = createRoutes({ libp2p: lost.libp2p, resolver: createResolver(), logger })
    const fallback = await routes2.lookup(did)
    assert.ok(fallback?.kind === 'libp2p' && fallback.peerId.equals(peer), 'the named peer, whose addresses may still be known')
    assert.equal(routes2.stats().lookups['did-doc'], 1)
    assert.deepEqual(lost.calls.merge, [])
  })

  it('an HTTP-only DID gets an HTTP route without asking the DHT; a DID with no endpoint has none', async () => {
    const did = didWith(['https://mediator.example/didcomm'])
    const { libp2p, calls } = stubLibp2p()
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger })
    assert.deepEqual(await routes.lookup(did), { kind: 'http', url: 'https://mediator.example/didcomm' })
    assert.deepEqual(await routes.named(did), { kind: 'http', url: 'https://mediator.example/didcomm' })
    assert.equal(routes.stats().lookups['did-doc'], 1)
    assert.equal(calls.findProviders.length + calls.findPeer.length + calls.getConnections, 0)

    assert.equal(await routes.lookup(didWith([])), undefined)
    assert.equal(routes.stats().failures, 1)
  })

  it('named() prefers the libp2p service to an HTTP one and asks no network', async () => {
    const peer = await newPeer()
    const did = didWith(['https://mediator.example/didcomm', `libp2p-peerId:${peer.toString()}`])
    const { libp2p, calls } = stubLibp2p()
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger })
    const named = await routes.named(did)
    assert.ok(named?.kind === 'libp2p' && named.peerId.equals(peer))
    assert.equal(calls.getConnections + calls.findProviders.length, 0)
    // A malformed peer ID in the DID doc names no libp2p peer.
    assert.deepEqual(await routes.named(didWith(['libp2p-peerId:not-a-peer-id', 'http://m.example/'])), { kind: 'http', url: 'http://m.example/' })
  })

  it('start provides every own DID under its hashed key and listens for identify; stop stops listening', async () => {
    const own = [didWith(['https://a.example/']), didWith(['https://b.example/'])]
    const { libp2p, calls } = stubLibp2p()
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger })
    routes.start(own)
    assert.ok(calls.listeners.has('peer:identify'))
    const deadline = Date.now() + 5000
    while (calls.provide.length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 1))
    assert.deepEqual(calls.provide.map(c => c.toString()), [(await mediatorKey(own[0] ?? '')).toString(), (await mediatorKey(own[1] ?? '')).toString()])
    routes.stop()
    assert.equal(calls.listeners.has('peer:identify'), false)
  })

  it('a failed provide is tried again soon, backing off, until it succeeds; none after stop', async () => {
    const own = [didWith(['https://a.example/'])]
    const { libp2p, calls } = stubLibp2p({ provideFailures: 2 })
    const routes = createRoutes({ libp2p, resolver: createResolver(), logger }, { provideRetryMs: 20 })
    routes.start(own)
    const deadline = Date.now() + 5000
    while (calls.provide.length < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
    // Two failures (retried after 20 ms, then 40 ms), then the third succeeds and no retry follows.
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(calls.provide.length, 3)
    routes.stop()

    const failing = stubLibp2p({ provideFailures: Infinity })
    const stopped = createRoutes({ libp2p: failing.libp2p, resolver: createResolver(), logger }, { provideRetryMs: 20 })
    stopped.start(own)
    while (failing.calls.provide.length < 1) await new Promise(resolve => setTimeout(resolve, 5))
    stopped.stop()
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(failing.calls.provide.length, 1)
  })
})
