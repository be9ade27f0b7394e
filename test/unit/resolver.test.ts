import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { Message } from 'didcomm-node'
import { fromString, toString } from 'uint8arrays'
import { createPeerDid2, createResolver, didOf, DIDResolutionError } from '../../didcomm/resolver.ts'
import { decodeMultikey, encodeMultikey } from '../../didcomm/multikey.ts'
import { DidWebAnswerError } from '../../didcomm/did-web.ts'

const b64url = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url')

interface Keys { x25519: { x: string, d: string }, ed25519: { x: string, d: string } }

function generateKeys (): Keys {
  const jwk = ({ privateKey }: { privateKey: KeyObject }): { x: string, d: string } => {
    const { x, d } = privateKey.export({ format: 'jwk' })
    assert.ok(x !== undefined && d !== undefined)
    return { x, d }
  }
  return { x25519: jwk(generateKeyPairSync('x25519')), ed25519: jwk(generateKeyPairSync('ed25519')) }
}

const pub = (jwk: { x: string }): Uint8Array => fromString(jwk.x, 'base64url')

/** A did:peer:4 long form, built here independently of the resolver. */
function peer4 (input: object): { long: string, short: string } {
  const encoded = 'z' + toString(Buffer.concat([Buffer.from([0x80, 0x04]), Buffer.from(JSON.stringify(input))]), 'base58btc')
  const digest = createHash('sha256').update(encoded).digest()
  const hash = 'z' + toString(Buffer.concat([Buffer.from([0x12, 0x20]), digest]), 'base58btc')
  return { long: `did:peer:4${hash}:${encoded}`, short: `did:peer:4${hash}` }
}

function peer4Input (keys: Keys): object {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    verificationMethod: [
      { id: '#key-1', type: 'Multikey', publicKeyMultibase: encodeMultikey('X25519', pub(keys.x25519)) },
      { id: '#key-2', type: 'Multikey', publicKeyMultibase: encodeMultikey('Ed25519', pub(keys.ed25519)) }
    ],
    keyAgreement: ['#key-1'],
    authentication: ['#key-2'],
    service: [{ id: '#didcomm', type: 'DIDCommMessaging', serviceEndpoint: { uri: 'didcomm:transport/queue', accept: ['didcomm/v2'], routingKeys: [] } }]
  }
}

// Seeded so a failure reproduces.
function random (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomUris (count: number): string[] {
  const rnd = random(42)
  const pick = (chars: string, n: number): string =>
    Array.from({ length: n }, () => [...chars][Math.floor(rnd() * [...chars].length)]).join('')
  const b58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  const uris = ['http://127.0.0.1:8080', 'ws://127.0.0.1:8080/ws', 'https://mediator.example.com/didcomm']
  for (let i = uris.length; i < count; i++) {
    uris.push(i % 3 === 0
      ? `libp2p-peerId:12D3KooW${pick(b58, 44)}`
      : `${pick('hw', 1) === 'h' ? 'https' : 'wss'}://${pick('abcxyz.-', 12)}:${i}/${pick('abc/?~>&=_-%#.é日😀', 5 + i % 40)}`)
  }
  return uris
}

const resolver = createResolver()

describe('did:peer:2', () => {
  it('round-trips createPeerDid2 through resolve', async () => {
    const keys = generateKeys()
    const did = createPeerDid2({
      keyAgreement: [pub(keys.x25519)],
      authentication: [pub(keys.ed25519)],
      services: [{ uri: 'http://127.0.0.1:8080' }, { uri: 'wss://m.example/ws', accept: ['didcomm/v2'], routingKeys: ['did:example:m#k'] }]
    })
    assert.match(did, /^did:peer:2\.Ez6LS[^.]+\.Vz6Mk[^.]+\.S[^.]+\.S[^.]+$/)
    assert.deepEqual(await resolver.resolve(did), {
      id: did,
      keyAgreement: [`${did}#key-1`],
      authentication: [`${did}#key-2`],
      verificationMethod: [
        { id: `${did}#key-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'X25519', x: keys.x25519.x } },
        { id: `${did}#key-2`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: keys.ed25519.x } }
      ],
      service: [
        { id: `${did}#service`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'http://127.0.0.1:8080', accept: ['didcomm/v2'], routing_keys: [] } },
        { id: `${did}#service-1`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'wss://m.example/ws', accept: ['didcomm/v2'], routing_keys: ['did:example:m#k'] } }
      ]
    })
  })

  it('resolves the spec example', async () => {
    const did = 'did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHBzOi8vZXhhbXBsZS5jb20vZW5kcG9pbnQiLCJyIjpbImRpZDpleGFtcGxlOnNvbWVtZWRpYXRvciNzb21la2V5Il0sImEiOlsiZGlkY29tbS92MiIsImRpZGNvbW0vYWlwMjtlbnY9cmZjNTg3Il19fQ'
    const doc = await resolver.resolveOrThrow(did)
    const x = (mb: string): string => toString(decodeMultikey(mb).publicKey, 'base64url')
    assert.deepEqual(doc.verificationMethod.map(vm => [vm.id, vm.publicKeyJwk]), [
      [`${did}#key-1`, { kty: 'OKP', crv: 'X25519', x: x('z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc') }],
      [`${did}#key-2`, { kty: 'OKP', crv: 'Ed25519', x: x('z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V') }]
    ])
    assert.deepEqual(doc.keyAgreement, [`${did}#key-1`])
    assert.deepEqual(doc.authentication, [`${did}#key-2`])
    assert.deepEqual(doc.service, [{
      id: `${did}#service`,
      type: 'DIDCommMessaging',
      serviceEndpoint: { uri: 'https://example.com/endpoint', accept: ['didcomm/v2', 'didcomm/aip2;env=rfc587'], routing_keys: ['did:example:somemediator#somekey'] }
    }])
  })

  it('accepts the older service encoding, arrays, padding and explicit ids; drops other services', async () => {
    const keys = generateKeys()
    const e = `E${encodeMultikey('X25519', pub(keys.x25519))}`
    const old = b64url({ t: 'dm', s: 'https://old.example/didcomm', r: ['did:example:m#k'], a: [] })
    const list = b64url([{ t: 'LinkedDomains', s: 'https://example.com' }, { id: '#dm', t: 'dm', s: { uri: 'ws://h/ws' } }])
    const padded = Buffer.from(JSON.stringify({ t: 'dm', s: { uri: 'http://ab' } })).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
    assert.ok(padded.endsWith('='))
    const did = `did:peer:2.${e}.S${old}.S${list}.S${padded}`
    const doc = await resolver.resolveOrThrow(did)
    assert.deepEqual(doc.service, [
      { id: `${did}#service`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'https://old.example/didcomm', accept: ['didcomm/v2'], routing_keys: ['did:example:m#k'] } },
      { id: `${did}#dm`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'ws://h/ws', accept: ['didcomm/v2'], routing_keys: [] } },
      { id: `${did}#service-3`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'http://ab', accept: ['didcomm/v2'], routing_keys: [] } }
    ])
  })

  it('numbers keys across A elements too', async () => {
    const keys = generateKeys()
    const ed = encodeMultikey('Ed25519', pub(keys.ed25519))
    const did = `did:peer:2.A${ed}.E${encodeMultikey('X25519', pub(keys.x25519))}.V${ed}`
    const doc = await resolver.resolveOrThrow(did)
    assert.deepEqual(doc.keyAgreement, [`${did}#key-2`])
    assert.deepEqual(doc.authentication, [`${did}#key-3`])
    assert.equal(doc.verificationMethod.length, 2)
  })

  it('encodes services so the browser wallet decode still works', async () => {
    const keys = generateKeys()
    let escaped = 0
    for (const uri of randomUris(300)) {
      const routingKeys = uri.length % 2 === 0 ? [`did:key:${encodeMultikey('X25519', pub(keys.x25519))}?x=~>`] : []
      const did = createPeerDid2({ keyAgreement: [pub(keys.x25519)], authentication: [], services: [{ uri, routingKeys }] })
      const segment = did.split('.').at(-1)?.slice(1) ?? ''
      assert.ok(segment.split('-').length <= 2 && segment.split('_').length <= 2, `${uri} -> ${segment}`)
      const json = atob(segment.replace('-', '+').replace('_', '/'))
      if (json.includes('\\u')) escaped++
      const decoded = JSON.parse(json)
      assert.equal(decoded.s.uri, uri)
      assert.deepEqual(decoded.s.r ?? [], routingKeys)
      const doc = await resolver.resolveOrThrow(did)
      assert.deepEqual(doc.service[0]?.serviceEndpoint, { uri, accept: ['didcomm/v2'], routing_keys: routingKeys })
    }
    // The plain JSON.stringify encoding must have failed the rule for some of them.
    assert.ok(escaped > 50, `only ${escaped} needed escaping`)
  })
})

describe('did:peer:4', () => {
  it('resolves the long form, then the short form', async () => {
    const keys = generateKeys()
    const { long, short } = peer4(peer4Input(keys))
    const fresh = createResolver()
    assert.equal(await fresh.resolve(short), null)
    await assert.rejects(fresh.resolveOrThrow(short), DIDResolutionError)
    for (const [did, aka] of [[long, short], [short, long]] as const) {
      assert.deepEqual(await fresh.resolveOrThrow(did), {
        id: did,
        alsoKnownAs: [aka],
        keyAgreement: [`${did}#key-1`],
        authentication: [`${did}#key-2`],
        verificationMethod: [
          { id: `${did}#key-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'X25519', x: keys.x25519.x } },
          { id: `${did}#key-2`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: keys.ed25519.x } }
        ],
        service: [{ id: `${did}#didcomm`, type: 'DIDCommMessaging', serviceEndpoint: { uri: 'didcomm:transport/queue', accept: ['didcomm/v2'], routing_keys: [] } }]
      })
    }
  })

  it('forgets the oldest long forms beyond its cache budget', async () => {
    const small = createResolver({ cacheBytes: 4000 })
    const [a, b] = [peer4(peer4Input(generateKeys())), peer4(peer4Input(generateKeys()))]
    await small.resolveOrThrow(a.long)
    await small.resolveOrThrow(b.long)
    assert.equal(await small.resolve(a.short), null)
    assert.equal((await small.resolveOrThrow(b.short)).id, b.short)
  })

  it('accepts embedded JWK methods and endpoint arrays or strings', async () => {
    const keys = generateKeys()
    const { long } = peer4({
      keyAgreement: [{ id: '#x', type: 'JsonWebKey2020', publicKeyJwk: { kty: 'OKP', crv: 'X25519', x: keys.x25519.x } }],
      authentication: [{ id: '#e', type: 'Ed25519VerificationKey2020', publicKeyMultibase: encodeMultikey('Ed25519', pub(keys.ed25519)) }],
      service: [
        { id: '#a', type: 'DIDCommMessaging', serviceEndpoint: [{ uri: 'https://a', routingKeys: ['did:example:m#k'] }] },
        { id: '#b', type: 'DIDCommMessaging', serviceEndpoint: 'https://b' }
      ]
    })
    const doc = await resolver.resolveOrThrow(long)
    assert.deepEqual(doc.keyAgreement, [`${long}#x`])
    assert.deepEqual(doc.authentication, [`${long}#e`])
    assert.deepEqual(doc.service.map(s => [s.id, s.serviceEndpoint]), [
      [`${long}#a`, { uri: 'https://a', accept: ['didcomm/v2'], routing_keys: ['did:example:m#k'] }],
      [`${long}#b`, { uri: 'https://b', accept: ['didcomm/v2'], routing_keys: [] }]
    ])
  })
})

describe('did:key', () => {
  it('resolves Ed25519 with its derived X25519 key', async () => {
    const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    const x = `${did}#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p`
    const doc = await resolver.resolveOrThrow(did)
    assert.deepEqual(doc.authentication, [`${did}#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK`])
    assert.deepEqual(doc.keyAgreement, [x])
    assert.equal(doc.verificationMethod.find(vm => vm.id === x)?.publicKeyJwk.crv, 'X25519')
  })

  it('resolves X25519 as keyAgreement only', async () => {
    const did = 'did:key:z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p'
    const doc = await resolver.resolveOrThrow(did)
    assert.deepEqual(doc.keyAgreement, [`${did}#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p`])
    assert.deepEqual(doc.authentication, [])
  })
})

describe('malformed and unsupported DIDs', () => {
  const keys = generateKeys()
  const e = `E${encodeMultikey('X25519', pub(keys.x25519))}`
  const { long } = peer4(peer4Input(keys))
  const otherHash = peer4({ other: true }).short.slice('did:peer:4'.length)
  const cases = [
    'did:peer:2.Ez6LSxyz',
    'did:foo:bar',
    'not a did',
    '',
    `did:peer:2.${e}.S!!!not-base64`,
    `did:peer:2.${e}.S${b64url({ t: 'dm', s: {} })}`,
    `did:peer:2.${e}.Q${e}`,
    `did:peer:4${otherHash}:${long.split(':')[3]}`,
    'did:peer:4zNot0base58',
    'did:key:z6MkTooShort'
  ]
  for (const did of cases) {
    it(`rejects ${JSON.stringify(did.length > 40 ? `…${did.slice(-30)}` : did)}`, async () => {
      assert.equal(await resolver.resolve(did), null)
      await assert.rejects(resolver.resolveOrThrow(did), DIDResolutionError)
    })
  }

  it('never throws from resolve, even for non-strings', async () => {
    assert.equal(await resolver.resolve(undefined as unknown as string), null)
  })
})

describe('did:web fetches (anyone may name a did:web, before anything is authenticated)', () => {
  /** The did:web whose document is at `url` (the inverse of didWebUrl), for stub fetchers that serve any. */
  function didAt (url: string): string {
    const { host, pathname } = new URL(url)
    const path = pathname === '/.well-known/did.json' ? '' : pathname.slice(0, -'/did.json'.length).replaceAll('/', ':')
    return `did:web:${host.replace(':', '%3A')}${path}`
  }
  const documentAt = (url: string): unknown => ({ id: didAt(url), verificationMethod: [], keyAgreement: [], authentication: [], service: [] })

  /** A fetcher whose fetches wait until `open()`, recording the URLs asked for. */
  function gatedFetcher (): { fetchDidWeb: (url: string) => Promise<unknown>, urls: string[], open: () => void } {
    const urls: string[] = []
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    return { fetchDidWeb: async url => { urls.push(url); await gate; return documentAt(url) }, urls, open }
  }

  it('resolutions of one did:web at the same time share one fetch', async () => {
    const { fetchDidWeb, urls, open } = gatedFetcher()
    const resolver = createResolver({ fetchDidWeb })
    const all = Promise.all(Array.from({ length: 50 }, async () => await resolver.resolve('did:web:mediator.example')))
    await new Promise(resolve => setImmediate(resolve))
    open()
    assert.deepEqual((await all).map(doc => doc?.id), Array(50).fill('did:web:mediator.example'))
    assert.deepEqual(urls, ['https://mediator.example/.well-known/did.json'])
  })

  it('past maxDidWebFetches at once a did:web fails at once, without a fetch, and is not remembered as failed', async () => {
    const { fetchDidWeb, urls, open } = gatedFetcher()
    const resolver = createResolver({ fetchDidWeb, maxDidWebFetches: 2 })
    const held = [resolver.resolve('did:web:a.example'), resolver.resolve('did:web:b.example'), resolver.resolve('did:web:a.example')]
    await assert.rejects(resolver.resolveOrThrow('did:web:c.example'), /too many did:web documents are being fetched/)
    assert.equal(urls.length, 2)
    open()
    assert.deepEqual((await Promise.all(held)).map(doc => doc?.id), ['did:web:a.example', 'did:web:b.example', 'did:web:a.example'])
    assert.equal((await resolver.resolve('did:web:c.example'))?.id, 'did:web:c.example', 'fetched once the others are done')
    assert.equal(urls.length, 3)
  })

  it('the default bound is 8 fetches at once', async () => {
    const { fetchDidWeb, urls, open } = gatedFetcher()
    const resolver = createResolver({ fetchDidWeb })
    const held = Array.from({ length: 8 }, async (_, i) => await resolver.resolve(`did:web:host${i}.example`))
    assert.equal(await resolver.resolve('did:web:host8.example'), null)
    assert.equal(urls.length, 8)
    open()
    assert.equal((await Promise.all(held)).filter(doc => doc !== null).length, 8)
  })

  it('a host that did not answer is not fetched from again for any of its paths; one that answered without a document is', async () => {
    const urls: string[] = []
    const resolver = createResolver({
      fetchDidWeb: async url => {
        urls.push(url)
        if (url.includes('down.example')) throw new Error('connect ECONNREFUSED')
        throw new DidWebAnswerError('the DID document\'s server answered 404')
      }
    })
    for (const did of ['did:web:down.example', 'did:web:down.example:a', 'did:web:down.example:b:c']) assert.equal(await resolver.resolve(did), null)
    assert.equal(urls.length, 1, 'one connection attempt for the host')
    assert.equal(await resolver.resolve('did:web:down.example%3A8443:a'), null)
    assert.equal(urls.length, 2, 'another port is another host')
    // A 404 at one path says nothing of another: else naming a bad path would block a mediator's good one.
    for (const did of ['did:web:up.example:a', 'did:web:up.example:b', 'did:web:up.example:a']) assert.equal(await resolver.resolve(did), null)
    assert.equal(urls.length, 4, 'each path once, then remembered for its DID')
  })
})

describe('didOf', () => {
  it('strips fragment, query and path', () => {
    assert.equal(didOf('did:peer:2.Ez6LSabc#key-1'), 'did:peer:2.Ez6LSabc')
    assert.equal(didOf('did:example:123?versionId=1'), 'did:example:123')
    assert.equal(didOf('did:example:123/path/x#frag'), 'did:example:123')
    assert.equal(didOf('did:example:123'), 'did:example:123')
  })
})

describe('didcomm-node accepts the documents', () => {
  type SecretsResolver = Parameters<typeof Message.unpack>[2]

  function party (did: string, keys: Keys): { did: string, secrets: SecretsResolver } {
    const secrets = new Map([[`${did}#key-1`, {
      id: `${did}#key-1`,
      type: 'JsonWebKey2020',
      privateKeyJwk: { kty: 'OKP', crv: 'X25519', ...keys.x25519 }
    }]])
    return {
      did,
      secrets: {
        get_secret: async id => secrets.get(id) ?? null,
        find_secrets: async ids => ids.filter(id => secrets.has(id))
      }
    }
  }

  async function roundTrip (from: ReturnType<typeof party>, to: ReturnType<typeof party>): Promise<void> {
    const msg = new Message({
      id: randomUUID(),
      typ: 'application/didcomm-plain+json',
      type: 'https://didcomm.org/basicmessage/2.0/message',
      from: from.did,
      to: [to.did],
      body: { content: 'hello' }
    })
    const [packed] = await msg.pack_encrypted(to.did, from.did, null, resolver, from.secrets, { forward: false })
    msg.free()
    const [unpacked, meta] = await Message.unpack(packed, resolver, to.secrets, {})
    assert.deepEqual(unpacked.as_value().body, { content: 'hello' })
    unpacked.free()
    assert.equal(meta.authenticated, true)
    assert.equal(meta.encrypted_from_kid, `${from.did}#key-1`)
    assert.deepEqual(meta.encrypted_to_kids, [`${to.did}#key-1`])
  }

  const peer2 = (keys: Keys): ReturnType<typeof party> => party(createPeerDid2({
    keyAgreement: [pub(keys.x25519)],
    authentication: [pub(keys.ed25519)],
    services: [{ uri: 'http://127.0.0.1:8080' }]
  }), keys)

  it('authcrypts between two did:peer:2', async () => {
    await roundTrip(peer2(generateKeys()), peer2(generateKeys()))
  })

  it('authcrypts to a did:peer:4 long form, then its short form', async () => {
    const keys = generateKeys()
    const { long, short } = peer4(peer4Input(keys))
    const alice = peer2(generateKeys())
    await roundTrip(alice, party(long, keys))
    await roundTrip(alice, party(short, keys))
  })
})
