/** unpack_ceiling_per_s: the most forwards one thread could unpack, as the node does, with nothing else to do. */
import { TestAgent } from '../../test/helpers/client.ts'
import { createEnvelope, createSecretsResolver } from '../../didcomm/envelope.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { packForward } from '../lib/forwards.ts'
import type { Figures } from '../lib/figures.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, timed } from '../lib/stats.ts'

/** A forward for a mediator as a business would post it, and that mediator's envelope (the node's own unpack path). */
async function forwardAndMediator (): Promise<{ forward: string, envelope: ReturnType<typeof createEnvelope> }> {
  const mediator = new TestAgent()
  // A mediator DID needs a service for senders to wrap forwards for it.
  const mediatorDid = mediator.newDid('http://127.0.0.1:9')
  const wallet = new TestAgent()
  const forward = await packForward(new TestAgent(), { to: wallet.newDid(mediatorDid), bodyBytes: KIB })
  const envelope = createEnvelope(createResolver(), createSecretsResolver(kid => mediator.secrets.get(kid)))
  return { forward, envelope }
}

export async function unpackScenario (settings: Settings): Promise<Figures> {
  const { forward, envelope } = await forwardAndMediator()
  await envelope.unpack(forward) // resolver cache and JIT warm, as in a running node
  const ms = await timed(async () => {
    for (let i = 0; i < settings.unpackRuns; i++) await envelope.unpack(forward)
  })
  return { unpack_ceiling_per_s: perSecond(settings.unpackRuns, ms) }
}
