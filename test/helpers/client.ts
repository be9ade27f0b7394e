/**
 * A DIDComm v2 client for tests: bench/lib/agent.ts's ThirdPartyAgent (didcomm-node, never the
 * node's own envelope or handlers; see there for the product code it relies on) plus what only the
 * tests need: pickup over HTTP with the unpack metadata, the standard send, and did:peer:4 built
 * here from the spec, not with the node's code. WebSockets are bench/lib/frame-socket.ts's.
 */
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { concat, fromString, toString } from 'uint8arrays'
import { BASIC, ThirdPartyAgent, wrapForward } from '../../bench/lib/agent.ts'
import type { Plain } from '../../bench/lib/agent.ts'
import { MEDIATION_V2, MEDIATION_V3 } from '../../protocols/coordinate-mediation/messages.ts'
import { PICKUP_V3, PICKUP_V4 } from '../../protocols/pickup/messages.ts'

// The party itself is the benchmark's (bench/lib/agent.ts): one copy.
export { BASIC, sharedResolver, wrapForward } from '../../bench/lib/agent.ts'
export type { Plain } from '../../bench/lib/agent.ts'
// So is the WebSocket that keeps every frame (bench/lib/frame-socket.ts).
export { FrameSocket } from '../../bench/lib/frame-socket.ts'
export { FORWARD } from '../../protocols/routing/messages.ts'

export const CM2 = MEDIATION_V2.protocol
export const CM3 = MEDIATION_V3.protocol
export const PICKUP3 = PICKUP_V3.protocol
export const PICKUP4 = PICKUP_V4.protocol

/** A picked-up message: its attachment id, the decrypted message, and whether (and by which key) it was authcrypted. */
export interface Received { id: string, message: Plain, authenticated: boolean, fromKid?: string }

export interface HttpAnswer { status: number, contentType: string, text: string, headers: Headers }

export async function post (url: string, body: string, contentType = 'application/didcomm-encrypted+json', headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body })
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers }
}

/** The tests' party: a ThirdPartyAgent that also sends the standard way (to a local or a remote mediator) and picks up over HTTP. */
export class TestAgent extends ThirdPartyAgent {
  /** Sends `msg` to `to` the standard way: packed for `to`, wrapped in a forward for its mediator, posted to `nodeUrl`. */
  async sendVia (nodeUrl: string, msg: Plain, to: string, from: string): Promise<HttpAnswer> {
    return await post(nodeUrl, await this.pack(msg, to, from, { forward: true, protect_sender: true }))
  }

  /**
   * Sends `msg` to `to` across the mesh: packed and wrapped for `to`'s mediator `home` as sendVia
   * does, inside one more forward for this agent's own node `entry` (which relays it to `home`),
   * posted to `entry`.
   */
  async sendThrough (entry: { url: string, did: string }, msg: Plain, to: string, home: string): Promise<HttpAnswer> {
    const forHome = await this.pack(msg, to, this.did, { forward: true, protect_sender: true })
    return await post(entry.url, await wrapForward(this, forHome, home, entry.did, this.did))
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

/** A new agent sends a basic message with `content` to `to` the standard way, over HTTP to `node`, which must accept it (202). */
export async function sendTo (node: { url: string }, to: string, content: string): Promise<Plain> {
  const sender = new TestAgent()
  const sent = sender.message(BASIC, { content }, to)
  const answer = await sender.sendVia(node.url, sent, to, sender.did)
  assert.equal(answer.status, 202, answer.text)
  return sent
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
