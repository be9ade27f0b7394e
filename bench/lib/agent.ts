/**
 * A DIDComm party as a third party would be one: it packs and unpacks with didcomm-node (the
 * didcomm-rust library), never with the node's own envelope (didcomm/envelope.ts) or handlers, and
 * talks to the node over HTTP. The benchmark's business and wallets are such parties; the tests'
 * client (test/helpers/client.ts) builds on it, so the node's crypto and protocol handling are
 * checked against the library. bench/ imports nothing from test/.
 *
 * It is not free of product code. It relies on, on purpose:
 * - didcomm/resolver.ts: the DID resolver didcomm-node needs (did:peer:2/4, did:key); a client has
 *   to resolve DIDs somehow, and the resolver is tested on its own in the unit tests.
 * - didcomm/keys.ts: OKP key generation and the did:peer:2 layout (#key-1 X25519, #key-2 Ed25519).
 * - protocols/ message modules: protocol URIs and the forward message (a plain object; the layer is
 *   packed here with didcomm-node).
 */
import { randomUUID } from 'node:crypto'
import { Message } from 'didcomm-node'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { MEDIATION_V2, MEDIATION_V3 } from '../../protocols/coordinate-mediation/messages.ts'
import { forwardMessage } from '../../protocols/routing/messages.ts'

// A type alias (not didcomm/keys.ts's interface) so a JWK passes as node:crypto's JsonWebKey.
type Jwk = { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string, d: string }
export type Secret = { id: string, type: 'JsonWebKey2020', privateKeyJwk: Jwk }
export type Plain = { id: string, type: string, body: Record<string, unknown>, from?: string, to?: string[], thid?: string, pthid?: string, attachments?: Array<{ id?: string, data: { base64?: string, json?: unknown } }>, [k: string]: unknown }
/** didcomm-node's pack options (`forward`, `protect_sender`, `enc_alg_anon`, ...). */
export type PackOptions = Parameters<Message['pack_encrypted']>[5]

// The node has no basic-message handler (it only forwards them), so no protocols/ module names this one.
export const BASIC = 'https://didcomm.org/basicmessage/2.0/message'

export const sharedResolver: DIDResolver = createResolver()

/** A party with any number of did:peer:2 DIDs, each with its own keys. */
export class ThirdPartyAgent {
  readonly secrets = new Map<string, Secret>()
  readonly resolver: DIDResolver = sharedResolver
  /** The agent's main DID: the one that asks for mediation. */
  did: string

  constructor () {
    this.did = this.newDid()
  }

  /** A new agent of the class this is called on, with mediation at `node` and one pairwise DID routed through it, all over HTTP. */
  static async mediatedWallet<A extends ThirdPartyAgent> (this: new () => A, node: { url: string, did: string }): Promise<{ wallet: A, pairwise: string }> {
    const wallet = new this()
    await wallet.mediate(node.url, node.did)
    return { wallet, pairwise: await wallet.pairwiseDid(node.url, node.did) }
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

  /**
   * Authcrypt (or anoncrypt with from = null), with any didcomm-node option; `forward` wraps it for the
   * recipient's mediator as didcomm-rust does. `forward` and `protect_sender` are off unless asked for.
   */
  async pack (msg: Plain, to: string, from: string | null = this.did, options: PackOptions = {}): Promise<string> {
    const m = new Message(msg as never)
    try {
      const [packed] = await m.pack_encrypted(to, from, null, this.resolver as never, this.secretsResolver as never, { forward: false, protect_sender: false, ...options })
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
    const res = await fetch(nodeUrl, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: await this.pack(this.message(type, body, nodeDid, extra), nodeDid) })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`)
    return (await this.unpack(text)).message
  }

  /** Coordinate Mediation mediate-request: 3.0 unless `protocol` is 2.0's. */
  async mediate (nodeUrl: string, nodeDid: string, protocol = MEDIATION_V3.protocol): Promise<Plain> {
    return await this.request(nodeUrl, nodeDid, `${protocol}/mediate-request`, {})
  }

  /** A new pairwise DID routed through the node, registered in this agent's keylist (3.0 unless `protocol` is 2.0's). */
  async pairwiseDid (nodeUrl: string, nodeDid: string, protocol = MEDIATION_V3.protocol): Promise<string> {
    const mediation = protocol === MEDIATION_V2.protocol ? MEDIATION_V2 : MEDIATION_V3
    const did = this.newDid(nodeDid)
    const reply = await this.request(nodeUrl, nodeDid, `${mediation.protocol}/${mediation.update}`, { updates: [{ recipient_did: did, action: 'add' }] })
    const updated = reply.body.updated as Array<{ result: string }>
    if (updated[0]?.result !== 'success') throw new Error(`keylist add failed: ${JSON.stringify(reply.body)}`)
    return did
  }
}

/**
 * One more forward layer, as a sender adds for each mesh hop: `packed` goes to mediator `next`, and
 * this layer is for `mediator` — authcrypted from `from` (a client of that mediator), or anoncrypted.
 */
export async function wrapForward (agent: ThirdPartyAgent, packed: string, next: string, mediator: string, from: string | null): Promise<string> {
  const forward = forwardMessage(next, packed, from === null ? { mediator } : { mediator, from }) as Plain
  return await agent.pack(forward, mediator, from)
}
