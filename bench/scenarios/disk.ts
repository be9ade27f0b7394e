/** disk_bytes_per_message: how much a child node's data dir grows per queued message (1 KiB bodies). */
import { ThirdPartyAgent } from '../lib/agent.ts'
import { withChildNode } from '../lib/child-node.ts'
import type { Figures } from '../lib/figures.ts'
import { fillMailbox } from '../lib/load.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'

export async function diskScenario (settings: Settings): Promise<Figures> {
  return await withChildNode([], async node => {
    const empty = await node.diskBytes()
    const { pairwise } = await ThirdPartyAgent.mediatedWallet(node)
    await fillMailbox(node.url, { to: pairwise, bodyBytes: KIB }, settings.diskMessages, settings.senders)
    const full = await node.diskBytes()
    return { disk_bytes_per_message: Math.round((full - empty) / settings.diskMessages) }
  })
}
