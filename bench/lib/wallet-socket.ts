/**
 * A wallet's DIDComm WebSocket to its node: sends packed requests, reads the decrypted messages coming
 * back in order. It packs and unpacks with the project's own envelope (didcomm/envelope.ts), as a
 * wallet on didcomm-mesh's client library does: a wallet on the didcomm library alone takes ~30 ms
 * to open a delivery of 100 messages, which would measure the wallet rather than the node.
 */
import { createEnvelope } from '../../didcomm/envelope.ts'
import type { Envelope, PlainMessage } from '../../didcomm/envelope.ts'
import { PICKUP_V3 } from '../../protocols/pickup/messages.ts'
import type { Plain, ThirdPartyAgent } from './agent.ts'
import type { NodeEndpoints } from './child-node.ts'
import { EnvelopeAgent } from './envelope-agent.ts'
import { FrameSocket } from './frame-socket.ts'

const PICKUP3 = PICKUP_V3.protocol
export const DELIVERY = `${PICKUP3}/delivery`
export const STATUS = `${PICKUP3}/status`

const FRAME_TIMEOUT_MS = 60_000

export class WalletSocket {
  private readonly socket: FrameSocket
  private readonly wallet: ThirdPartyAgent
  private readonly envelope: Envelope
  private readonly nodeDid: string
  private read = 0

  private constructor (socket: FrameSocket, wallet: ThirdPartyAgent, nodeDid: string) {
    this.socket = socket
    this.wallet = wallet
    this.envelope = wallet instanceof EnvelopeAgent ? wallet.envelope : createEnvelope(wallet.resolver, kid => wallet.secrets.get(kid))
    this.nodeDid = nodeDid
  }

  /** `localAddress`: the address to connect from (see FrameSocket.open). */
  static async open (wallet: ThirdPartyAgent, node: NodeEndpoints, localAddress?: string): Promise<WalletSocket> {
    return new WalletSocket(await FrameSocket.open(node.wsUrl, {}, localAddress), wallet, node.did)
  }

  /** Packs a pickup 3.0 message of `type` (e.g. `delivery-request`) to the node and sends it. */
  async send (type: string, body: Record<string, unknown>): Promise<void> {
    this.socket.send(await this.envelope.pack(this.wallet.message(`${PICKUP3}/${type}`, body, this.nodeDid) as PlainMessage, this.nodeDid, this.wallet.did))
  }

  /** The next message whose type is one of `types`, decrypted; messages of other types are skipped. */
  async next (...types: string[]): Promise<Plain> {
    return (await this.receive(...types)).message
  }

  /** next(), with when its frame arrived (performance.now()): a latency that ends there does not count the decryption. */
  async receive (...types: string[]): Promise<{ message: Plain, at: number }> {
    for (;;) {
      const frame = await this.socket.take(this.read++, FRAME_TIMEOUT_MS)
      const message = (await this.envelope.unpack(frame.text)).message as Plain
      if (types.includes(message.type)) return { message, at: frame.at }
    }
  }

  /** Asks the node to push messages to this socket as they arrive. */
  async goLive (): Promise<void> {
    await this.send('live-delivery-change', { live_delivery: true })
    await this.next(STATUS)
  }

  /** Acknowledges a delivery without waiting for the node's status (a live wallet's way). */
  async acknowledge (delivery: Plain): Promise<string[]> {
    const ids = attachmentIds(delivery)
    await this.send('messages-received', { message_id_list: ids })
    return ids
  }

  async close (): Promise<void> {
    await this.socket.close()
  }
}

/** The ids of a delivery's attached messages (the wallet does not decrypt the messages themselves). */
export function attachmentIds (delivery: Plain): string[] {
  return (delivery.attachments ?? []).map(attachment => attachment.id as string)
}
