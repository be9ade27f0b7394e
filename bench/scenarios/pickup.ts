/**
 * pickup_per_s: a wallet drains a full mailbox over a WebSocket, as many messages per delivery-request
 * as the node gives (1 MiB of them), acknowledging each batch in the same breath as it asks for the next.
 */
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { Figures } from '../lib/figures.ts'
import { fillMailbox } from '../lib/load.ts'
import { KIB, PICKUP_BATCH } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, timed } from '../lib/stats.ts'
import { DELIVERY, STATUS, WalletSocket, attachmentIds } from '../lib/wallet-socket.ts'
import type { Mediator } from './ingest.ts'

/**
 * Requests and acknowledges batches until the node reports nothing waiting; returns how many were
 * picked up. Each messages-received goes out with the next delivery-request, as pickup allows: the
 * node handles a socket's messages in order, so the request finds the batch acknowledged, and the
 * wallet reads the status of the one before the delivery of the other. Counted once that status is in.
 */
export async function drain (socket: WalletSocket): Promise<number> {
  let picked = 0
  await socket.send('delivery-request', { limit: PICKUP_BATCH })
  for (;;) {
    const reply = await socket.next(DELIVERY, STATUS)
    const ids = attachmentIds(reply)
    if (reply.type === STATUS || ids.length === 0) return picked
    await socket.send('messages-received', { message_id_list: ids })
    await socket.send('delivery-request', { limit: PICKUP_BATCH })
    await socket.next(STATUS)
    picked += ids.length
  }
}

/**
 * Messages picked up per second: the mailbox is filled through every node of `mediator` in turn
 * (untimed), then drained from the last one (with replicas, one that did not take every message).
 */
export async function measurePickup (mediator: Mediator, settings: Settings): Promise<number> {
  const { wallet, pairwise } = await ThirdPartyAgent.mediatedWallet(mediator[0])
  await fillMailbox(mediator.map(node => node.url), { to: pairwise, bodyBytes: KIB }, settings.pickupMessages, settings.senders)
  const socket = await WalletSocket.open(wallet, mediator[mediator.length - 1] ?? mediator[0])
  try {
    let picked = 0
    const ms = await timed(async () => { picked = await drain(socket) })
    if (picked !== settings.pickupMessages) throw new Error(`picked up ${picked} of ${settings.pickupMessages}`)
    return perSecond(picked, ms)
  } finally {
    await socket.close()
  }
}

export async function pickupScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => ({ pickup_per_s: await measurePickup([node], settings) }))
}
