/** A packing thread for lib/pack.ts: packs `count` forwards as the given agent. */
import { parentPort } from 'node:worker_threads'
import { agentFrom, packForward } from './forwards.ts'
import type { AgentKeys, ForwardSpec } from './forwards.ts'

export interface PackRequest { id: number, agent: AgentKeys, spec: ForwardSpec, count: number }
export type PackReply = { id: number, packed: string[] } | { id: number, error: string }

async function packAll (request: PackRequest): Promise<string[]> {
  const business = agentFrom(request.agent)
  const packed: string[] = []
  for (let i = 0; i < request.count; i++) packed.push(await packForward(business, request.spec))
  return packed
}

parentPort?.on('message', (request: PackRequest) => {
  packAll(request).then(
    packed => { parentPort?.postMessage({ id: request.id, packed } satisfies PackReply) },
    (err: unknown) => { parentPort?.postMessage({ id: request.id, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies PackReply) }
  )
})
