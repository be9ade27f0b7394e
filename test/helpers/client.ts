/**
 * A DIDComm v2 client for tests. It packs and unpacks with didcomm-node (the didcomm-rust library),
 * never with the node's own envelope (didcomm/envelope.ts) or handlers, and talks to the node over
 * fetch/ws: the tests check the node's crypto and protocol handling against the library.
 *
 * It is not free of product code. It relies on, on purpose:
 * - didcomm/resolver.ts: the DID resolver didcomm-node needs (did:peer:2/4, did:key); a client has
 *   to resolve DIDs somehow, and the resolver is tested on its own in the unit tests.
 * - didcomm/keys.ts: OKP key generation and the did:peer:2 layout (#key-1 X25519, #key-2 Ed25519).
 * - protocols/ message modules: protocol URIs and the forward message (a plain object; the layer is
 *   packed here with didcomm-node).
 * did:peer:4 (peerDid4) is built here from the spec, not with the node's code.
 */
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import { Message } from 'didcomm-node'
import { concat, fromString, toString } from 'uint8arrays'
import WebSocket from 'ws'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { MEDIATION_V2, MEDIATION_V3 } from '../../protocols/coordinate-mediation/messages.ts'
import { PICKUP_V3, PICKUP_V4 } from '../../protocols/pickup/messages.ts'
import { FORWARD, forwardMessage } from '../../protocols/routing/messages.ts'

// A type alias (not didcomm/keys.ts's interface) so a JWK passes as node:crypto's JsonWebKey.
type Jwk = { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string, d: string }
type Secret = { id: string, type: 'JsonWebKey2020', privateKeyJwk: Jwk }
export type Plain = { id: string, type: string, body: Record<string, unknown>, from?: string, to?: string[], thid?: string, pthid?: string, attachments?: Array<{ id?: string, data: { base64?: string, json?: unknown } }>, [k: string]: unknown }

export const CM2 = MEDIATION_V2.protocol
export const CM3 = MEDIATION_V3.protocol
export const PICKUP3 = PICKUP_V3.protocol
export const PICKUP4 = PICKUP_V4.protocol
export { FORWARD }
// The node has no basic-message handler (it only forwards them), so no protocols/ module names this one.
export const BASIC = 'https://didcomm.org/basicmessage/2.0/message'

export const sharedResolver: DIDResolver = createResolver()

/** A picked-up message: its attachment id, the decrypted message, and whether (and by which key) it was authcrypted. */
export interface Received { id: string, message: Plain, authenticated: boolean, fromKid?: string }

export interface HttpAnswer { status: number, contentType: string, text: string, headers: Headers }

export async function post (url: string, body: string, contentType = 'application/didcomm-encrypted+json', headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body })
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers }
}

/** A party with any number of did:peer:2 DIDs, each with its own keys. */
export class TestAgent {
  readonly secrets = new Map<string, Secret>()
  readonly resolver: DIDResolver = sharedResolver
  /** The agent's main DID: the one that asks for mediation. */
  did: string

  constructor () {
    this.did = this.newDid()
  }

  /** A new DID with fresh keys; `mediatorDid` makes it routable through that mediator. */
  newDid (mediatorDid?: string): string {
    const ka = generateOkpKey('X25519')
    const auth = generateOkpKey('Ed25519')
    const did = peerDid2For(ka, auth, mediatorDid === undefined ? [] : [{ uri: mediatorDid, accept: ['didcomm/v2'] }])
    this.secrets.set(`${did}#key-1`, { id: `${did}#key-1`, type: 'JsonWebKey2020', privateKeyJwk: ka })
    this.secrets.set(`${did}#key-2`, { id: `${did}#key-2`, type: 'JsonWebKey2020', privateKeyJwk: auth })
    return did
  }

  private get secretsResolver (): { get_secret: (id: string) => Promise<Secret | null>, find_secrets: (ids: string[]) => Promise<string[]> } {
    return {
      get_secret: async id => this.secrets.get(id) ?? null,
      find_secrets: async ids => ids.filter(id => this.secrets.has(id))
    }
  }

  message (type: string, body: Record<string, unknown>, to: string, extra: Record<string, unknown> = {}): Plain {
    return { id: randomUUID(), type, body, from: this.did, to: [to], created_time: Math.floor(Date.now() / 1000), ...extra }
  }

  /** Authcrypt (or anoncrypt with from = null); `forward` wraps it for the recipient's mediator as didcomm-rust does. */
  async pack (msg: Plain, to: string, from: string | null = this.did, options: { forward?: boolean, protect_sender?: boolean } = {}): Promise<string> {
    const m = new Message(msg as never)
    try {
      const [packed] = await m.pack_encrypted(to, from, null, this.resolver as never, this.secretsResolver as never, { forward: options.forward ?? false, protect_sender: options.protect_sender ?? false })
      return packed
    } finally {
      m.free()
    }
  }

  async unpack (packed: string): Promise<{ message: Plain, authenticated: boolean, fromKid?: string }> {
    const [m, meta] = await Message.unpack(packed, this.resolver as never, this.secretsResolver as never, {})
    try {
      return { message: m.as_value() as unknown as Plain, authenticated: meta.authenticated, fromKid: meta.encrypted_from_kid }
    } finally {
      m.free()
    }
  }

  /** Sends a request to the node over HTTP and returns the decrypted reply (or throws with the problem). */
  async request (nodeUrl: string, nodeDid: string, type: string, body: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Plain> {
    const answer = await post(nodeUrl, await this.pack(this.message(type, body, nodeDid, extra), nodeDid))
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text}`)
    return (await this.unpack(answer.text)).message
  }

  /** Sends `msg` to `to` the standard way: packed for `to`, wrapped in a forward for its mediator, posted to `nodeUrl`. */
  async sendVia (nodeUrl: string, msg: Plain, to: string, from: string): Promise<HttpAnswer> {
    return await post(nodeUrl, await this.pack(msg, to, from, { forward: true, protect_sender: true }))
  }

  async mediate (nodeUrl: string, nodeDid: string, version: typeof CM2 | typeof CM3 = CM3): Promise<Plain> {
    return await this.request(nodeUrl, nodeDid, `${version}/mediate-request`, {})
  }

  /** A new pairwise DID routed through the node, registered in this agent's keylist. */
  async pairwiseDid (nodeUrl: string, nodeDid: string, version: typeof CM2 | typeof CM3 = CM3): Promise<string> {
    const did = this.newDid(nodeDid)
    const type = version === CM2 ? `${CM2}/keylist-update` : `${CM3}/recipient-update`
    const reply = await this.request(nodeUrl, nodeDid, type, { updates: [{ recipient_did: did, action: 'add' }] })
    const updated = reply.body.updated as Array<{ result: string }>
    if (updated[0]?.result !== 'success') throw new Error(`keylist add failed: ${JSON.stringify(reply.body)}`)
    return did
  }

  /** Every queued message for this agent via pickup 3.0 (or 4.0): decrypted (with the unpack metadata), and acknowledged when `ack`. */
  async pickup (nodeUrl: string, nodeDid: string, options: { ack?: boolean, version?: typeof PICKUP3 | typeof PICKUP4 } = {}): Promise<Received[]> {
    const version = options.version ?? PICKUP3
    const limitField = version === PICKUP3 ? 'limit' : 'message_count_limit'
    const reply = await this.request(nodeUrl, nodeDid, `${version}/delivery-request`, { [limitField]: 100 })
    if (reply.type.endsWith('/status')) return []
    const received: Received[] = []
    for (const attachment of reply.attachments ?? []) {
      const packed = Buffer.from(attachment.data.base64 ?? '', 'base64').toString('utf8')
      received.push({ id: attachment.id ?? '', ...await this.unpack(packed) })
    }
    if (options.ack === true && received.length > 0) {
      await this.request(nodeUrl, nodeDid, `${version}/messages-received`, { message_id_list: received.map(r => r.id) })
    }
    return received
  }
}

/** A new wallet with mediation at `node` and one pairwise DID routed through it, all over HTTP. */
export async function mediatedWallet (node: { url: string, did: string }): Promise<{ wallet: TestAgent, pairwise: string }> {
  const wallet = new TestAgent()
  await wallet.mediate(node.url, node.did)
  return { wallet, pairwise: await wallet.pairwiseDid(node.url, node.did) }
}

/** A new agent sends a basic message with `content` to `to` the standard way, over HTTP to `node`, which must accept it (202). */
export async function sendTo (node: { url: string }, to: string, content: string): Promise<Plain> {
  const sender = new TestAgent()
  const sent = sender.message(BASIC, { content }, to)
  const answer = await sender.sendVia(node.url, sent, to, sender.did)
  assert.equal(answer.status, 202, answer.text)
  return sent
}

/** A WebSocket connection to a node, collecting every frame it receives. */
export class TestSocket {
  readonly frames: Array<{ text: string, binary: boolean }> = []
  private readonly ws: WebSocket
  private waiters: Array<() => void> = []

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ text: data.toString('utf8'), binary })
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  static async open (url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
    const ws = new WebSocket(url, { headers })
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
    return new TestSocket(ws)
  }

  send (packed: string): void {
    this.ws.send(packed)
  }

  /** Waits for the frame at `index` (0-based) to arrive. */
  async frame (index: number, timeout = 10_000): Promise<{ text: string, binary: boolean }> {
    const deadline = Date.now() + timeout
    while (this.frames.length <= index) {
      if (Date.now() > deadline) throw new Error(`no WebSocket frame #${index} within ${timeout} ms (got ${this.frames.length})`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.frames[index] as { text: string, binary: boolean }
  }

  async close (): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>(resolve => { this.ws.once('close', () => { resolve() }); this.ws.close() })
  }
}

/** Packs as other clients do, with any didcomm-node option (`enc_alg_anon`, ...); `from` null = anoncrypt. */
export async function packWith (agent: TestAgent, msg: Plain, to: string, from: string | null, options: Record<string, unknown> = {}): Promise<string> {
  const secrets = {
    get_secret: async (id: string) => agent.secrets.get(id) ?? null,
    find_secrets: async (ids: string[]) => ids.filter(id => agent.secrets.has(id))
  }
  const m = new Message(msg as never)
  try {
    const [packed] = await m.pack_encrypted(to, from, null, agent.resolver as never, secrets as never, { forward: false, ...options } as never)
    return packed
  } finally {
    m.free()
  }
}

/**
 * One more forward layer, as a sender adds for each mesh hop: `packed` goes to mediator `next`, and
 * this layer is for `mediator` — authcrypted from `from` (a client of that mediator), or anoncrypted.
 */
export async function wrapForward (agent: TestAgent, packed: string, next: string, mediator: string, from: string | null): Promise<string> {
  const forward = forwardMessage(next, packed, from === null ? { mediator } : { mediator, from }) as Plain
  return await agent.pack(forward, mediator, from)
}

// ---- did:peer:4, built here from the spec (https://identity.foundation/did-peer-4/), not with the node's code

function multikey (codec: number, publicKey: Uint8Array): string {
  return 'z' + toString(concat([Uint8Array.of(codec, 0x01), publicKey]), 'base58btc')
}

export interface Peer4 { did: string, short: string }

/** A long-form did:peer:4 as the DIF demo makes one, its secrets added to `agent` under the resolver's kids. */
export function peerDid4 (agent: TestAgent, serviceUri: string): Peer4 {
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const x = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' })
  const input = {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    verificationMethod: [
      { id: '#key-1', type: 'Multikey', publicKeyMultibase: multikey(0xed, fromString(String(ed.x), 'base64url')) },
      { id: '#key-2', type: 'Multikey', publicKeyMultibase: multikey(0xec, fromString(String(x.x), 'base64url')) }
    ],
    authentication: ['#key-1'],
    assertionMethod: ['#key-1'],
    keyAgreement: ['#key-2'],
    service: [{ id: '#didcomm', type: 'DIDCommMessaging', serviceEndpoint: { uri: serviceUri, accept: ['didcomm/v2'], routingKeys: [] } }]
  }
  const encoded = 'z' + toString(concat([Uint8Array.of(0x80, 0x04), fromString(JSON.stringify(input))]), 'base58btc')
  const hash = 'z' + toString(concat([Uint8Array.of(0x12, 0x20), createHash('sha256').update(encoded).digest()]), 'base58btc')
  const did = `did:peer:4${hash}:${encoded}`
  agent.secrets.set(`${did}#key-1`, { id: `${did}#key-1`, type: 'JsonWebKey2020', privateKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: String(ed.x), d: String(ed.d) } })
  agent.secrets.set(`${did}#key-2`, { id: `${did}#key-2`, type: 'JsonWebKey2020', privateKeyJwk: { kty: 'OKP', crv: 'X25519', x: String(x.x), d: String(x.d) } })
  return { did, short: `did:peer:4${hash}` }
}
