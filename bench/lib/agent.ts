/**
 * The benchmark's DIDComm parties (a business that sends, a wallet that receives), packing with
 * didcomm-node as a third-party sender would. Keys and did:peer:2 DIDs come from didcomm/keys.ts,
 * DIDs resolve with didcomm/resolver.ts, protocol URIs and forwards come from protocols/.
 */
import { randomUUID } from 'node:crypto'
import { Message } from 'didcomm-node'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import type { OkpPrivateJwk } from '../../didcomm/keys.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import type { DIDResolver } from '../../didcomm/resolver.ts'
import { MEDIATION_V3 } from '../../protocols/coordinate-mediation/messages.ts'
import { forwardMessage } from '../../protocols/routing/messages.ts'

export interface Secret { id: string, type: 'JsonWebKey2020', privateKeyJwk: OkpPrivateJwk }
export type Plain = { id: string, type: string, body: Record<string, unknown>, from?: string, to?: string[], attachments?: Array<{ id?: string, data: { base64?: string, json?: unknown } }>, [k: string]: unknown }

export const BASIC = 'https://didcomm.org/basicmessage/2.0/message'

const resolver: DIDResolver = createResolver()

/** A party with any number of did:peer:2 DIDs, each with its own keys. */
export class BenchAgent {
  readonly secrets = new Map<string, Secret>()
  readonly resolver: DIDResolver = resolver
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

  message (type: string, body: Record<string, unknown>, to: string): Plain {
    return { id: randomUUID(), type, body, from: this.did, to: [to], created_time: Math.floor(Date.now() / 1000) }
  }

  /** Authcrypt from `from`; `forward` wraps it for the recipient's mediator as didcomm-rust does. */
  async pack (msg: Plain, to: string, from: string = this.did, options: { forward?: boolean } = {}): Promise<string> {
    const m = new Message(msg as never)
    try {
      const [packed] = await m.pack_encrypted(to, from, null, this.resolver as never, this.secretsResolver as never, { forward: options.forward ?? false, protect_sender: false })
      return packed
    } finally {
      m.free()
    }
  }

  async unpack (packed: string): Promise<{ message: Plain }> {
    const [m] = await Message.unpack(packed, this.resolver as never, this.secretsResolver as never, {})
    try {
      return { message: m.as_value() as unknown as Plain }
    } finally {
      m.free()
    }
  }

  /** Sends a request to the node over HTTP and returns the decrypted reply (or throws). */
  async request (nodeUrl: string, nodeDid: string, type: string, body: Record<string, unknown>): Promise<Plain> {
    const res = await fetch(nodeUrl, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: await this.pack(this.message(type, body, nodeDid), nodeDid) })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`)
    return (await this.unpack(text)).message
  }

  /** Coordinate Mediation 3.0 mediate-request. */
  async mediate (nodeUrl: string, nodeDid: string): Promise<Plain> {
    return await this.request(nodeUrl, nodeDid, `${MEDIATION_V3.protocol}/mediate-request`, {})
  }

  /** A new pairwise DID routed through the node, registered in this agent's recipient list. */
  async pairwiseDid (nodeUrl: string, nodeDid: string): Promise<string> {
    const did = this.newDid(nodeDid)
    const reply = await this.request(nodeUrl, nodeDid, `${MEDIATION_V3.protocol}/${MEDIATION_V3.update}`, { updates: [{ recipient_did: did, action: 'add' }] })
    const updated = reply.body.updated as Array<{ result: string }>
    if (updated[0]?.result !== 'success') throw new Error(`recipient add failed: ${JSON.stringify(reply.body)}`)
    return did
  }
}

/** A new wallet with mediation at `node` and one pairwise DID routed through it, all over HTTP. */
export async function mediatedWallet (node: { url: string, did: string }): Promise<{ wallet: BenchAgent, pairwise: string }> {
  const wallet = new BenchAgent()
  await wallet.mediate(node.url, node.did)
  return { wallet, pairwise: await wallet.pairwiseDid(node.url, node.did) }
}

/** One more forward layer for a mesh hop: `packed` goes to mediator `next`; this layer is authcrypted from `from` for `mediator`. */
export async function wrapForward (agent: BenchAgent, packed: string, next: string, mediator: string, from: string): Promise<string> {
  return await agent.pack(forwardMessage(next, packed, { mediator, from }) as Plain, mediator, from)
}
