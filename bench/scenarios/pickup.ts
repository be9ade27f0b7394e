/** pickup_per_s: a wallet drains a full mailbox over a WebSocket, 100 messages per delivery-request, acknowledging each batch. */
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { Figures } from '../lib/figures.ts'
import { fillMailbox } from '../lib/load.ts'
import { KIB, PICKUP_BATCH } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, timed } from '../lib/stats.ts'
import { DELIVERY, STATUS, WalletSocket, attachmentIds } from '../lib/wallet-socket.ts'

/** Requests and acknowledges batches until the node reports nothing waiting; returns how many were picked up. */
async function drain (socket: WalletSocket): Promise<number> {
  let picked = 0
  for (;;) {
    await socket.send('delivery-request', { limit: PICKUP_BATCH })
    const reply = await socket.next(DELIVERY, STATUS)
    const ids = attachmentIds(reply)
    if (reply.type === STATUS || ids.length === 0) return picked
    await socket.send('messages-received', { message_id_list: ids })
    await socket.next(STATUS)
    picked += ids.length
  }
}

export async function pickupScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => {
    const { wallet, pairwise } = await ThirdPartyAgent.mediatedWallet(node)
    await fillMailbox(node.url, { to: pairwise, bodyBytes: KIB }, settings.pickupMessages, settings.senders)
    const socket = await WalletSocket.open(wallet, node)
    try {
      let picked = 0
      const ms = await timed(async () => { picked = await drain(socket) })
      if (picked !== settings.pickupMessages) throw new Error(`picked up ${picked} of ${settings.pickupMessages}`)
      return { pickup_per_s: perSecond(picked, ms) }
    } finally {
      await socket.close()
    }
  })
}
