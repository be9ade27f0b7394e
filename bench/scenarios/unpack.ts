/**
 * unpack_ceiling_per_s: the most forwards one thread unpacks with the didcomm library, nothing else to do;
 * node_unpack_per_s: the node's own unpack path (didcomm/envelope.ts, native anoncrypt unwrap) on the same forward.
 */
import { createEnvelope } from '../../didcomm/envelope.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { ThirdPartyAgent } from '../lib/agent.ts'
import { packForward } from '../lib/forwards.ts'
import type { Figures } from '../lib/figures.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, timed } from '../lib/stats.ts'

/** Unpacks per second of `unpack` in a tight loop, after one warm-up call (resolver cache, JIT). */
async function loopRate (runs: number, unpack: () => Promise<unknown>): Promise<number> {
  await unpack()
  const ms = await timed(async () => {
    for (let i = 0; i < runs; i++) await unpack()
  })
  return perSecond(runs, ms)
}

export async function unpackScenario (settings: Settings): Promise<Figures> {
  const mediator = new ThirdPartyAgent()
  // A mediator DID needs a service for senders to wrap forwards for it.
  const mediatorDid = mediator.newDid('http://127.0.0.1:9')
  const wallet = new ThirdPartyAgent()
  const forward = await packForward(new ThirdPartyAgent(), { to: wallet.newDid(mediatorDid), bodyBytes: KIB })
  const envelope = createEnvelope(createResolver(), kid => mediator.secrets.get(kid))
  return {
    // The bench agent unpacks with didcomm-node alone.
    unpack_ceiling_per_s: await loopRate(settings.unpackRuns, async () => await mediator.unpack(forward)),
    node_unpack_per_s: await loopRate(settings.unpackRuns, async () => await envelope.unpack(forward))
  }
}
