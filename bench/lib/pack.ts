/**
 * Pre-packing: every message a scenario sends is packed before timing starts, across one thread per
 * core (didcomm-node packs ~300 forwards a second on one thread; disk_bytes_per_message needs 100,000).
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { ThirdPartyAgent } from './agent.ts'
import { keysOf } from './forwards.ts'
import type { ForwardSpec } from './forwards.ts'
import type { PackReply, PackRequest } from './pack-worker.ts'

interface Packer { worker: Worker, pending: Map<number, PromiseWithResolvers<string[]>> }

let packers: Packer[] | undefined
let nextId = 0

function startPacker (): Packer {
  const packer: Packer = { worker: new Worker(new URL('./pack-worker.ts', import.meta.url)), pending: new Map() }
  packer.worker.on('message', (reply: PackReply) => {
    const waiting = packer.pending.get(reply.id)
    packer.pending.delete(reply.id)
    if ('error' in reply) waiting?.reject(new Error(`packing failed: ${reply.error}`))
    else waiting?.resolve(reply.packed)
  })
  packer.worker.on('error', err => {
    for (const waiting of packer.pending.values()) waiting.reject(err)
    packer.pending.clear()
  })
  return packer
}

async function ask (packer: Packer, request: Omit<PackRequest, 'id'>): Promise<string[]> {
  const id = nextId++
  const reply = Promise.withResolvers<string[]>()
  packer.pending.set(id, reply)
  packer.worker.postMessage({ id, ...request } satisfies PackRequest)
  return await reply.promise
}

/** `count` distinct forwards from `business` as `spec` describes, packed across all cores. */
export async function packForwards (business: ThirdPartyAgent, spec: ForwardSpec, count: number): Promise<string[]> {
  packers ??= Array.from({ length: availableParallelism() }, startPacker)
  const agent = keysOf(business)
  const share = Math.ceil(count / packers.length)
  const parts = await Promise.all(packers.map(async (packer, i) =>
    await ask(packer, { agent, spec, count: Math.max(0, Math.min(share, count - i * share)) })))
  return parts.flat()
}

/**
 * Forwards in chunks of `sizes` (an endless iterable will do), each chunk packing while the caller
 * works through the one before: fresh forwards for a long run without holding them all in memory.
 */
export async function * packedChunks (business: ThirdPartyAgent, spec: ForwardSpec, sizes: Iterable<number>): AsyncGenerator<string[]> {
  const pending = sizes[Symbol.iterator]()
  const packNext = (): Promise<string[]> | undefined => {
    const size = pending.next()
    if (size.done === true) return undefined
    const packing = packForwards(business, spec, size.value)
    packing.catch(() => {}) // awaited next round; a failure meanwhile must not be left unhandled
    return packing
  }
  for (let packing = packNext(); packing !== undefined;) {
    const chunk = await packing
    packing = packNext()
    yield chunk
  }
}

export async function closePackers (): Promise<void> {
  const running = packers ?? []
  packers = undefined
  await Promise.all(running.map(async packer => await packer.worker.terminate()))
}
