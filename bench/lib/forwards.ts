/** What the benchmark sends: a basic message for a wallet's DID, wrapped in forwards as a business would send it. */
import { packForMesh } from '../../client/agent.ts'
import { createEnvelope } from '../../didcomm/envelope.ts'
import type { PlainMessage } from '../../didcomm/envelope.ts'
import { BASIC, ThirdPartyAgent, wrapForward } from './agent.ts'

/** A mesh hop in front: the message goes first to `mediator` (the business's node), which passes it on to `next`. */
export interface Via { next: string, mediator: string }

/** A path through mix nodes, from the business's node `node` to the wallet's mediator `mediator` (all mesh nodes). */
export interface MixPath { node: string, mixes: string[], mediator: string }

export interface ForwardSpec {
  /** The wallet's (pairwise) DID, routed through its mediator. */
  to: string
  bodyBytes: number
  via?: Via
  /** Instead of `via`: packed by the client library as a MeshAgent sends (padded, filled forwards) along this path. */
  mix?: MixPath
}

/** An agent's DID and keys, so another thread can pack as that agent. */
export interface AgentKeys { did: string, secrets: Array<[string, unknown]> }

export function keysOf (agent: ThirdPartyAgent): AgentKeys {
  return { did: agent.did, secrets: [...agent.secrets] }
}

export function agentFrom (keys: AgentKeys): ThirdPartyAgent {
  const agent = new ThirdPartyAgent()
  agent.did = keys.did
  for (const [id, secret] of keys.secrets) agent.secrets.set(id, secret as never)
  return agent
}

/** One message from `business` to `spec.to`: authcrypted, wrapped in a forward for the wallet's mediator (and one more for `via`), or packed for `mix`'s path. */
export async function packForward (business: ThirdPartyAgent, spec: ForwardSpec): Promise<string> {
  const message = business.message(BASIC, { content: 'x'.repeat(spec.bodyBytes) }, spec.to)
  if (spec.mix !== undefined) return await packMixed(business, message as PlainMessage, spec.mix)
  const packed = await business.pack(message, spec.to, business.did, { forward: true })
  if (spec.via === undefined) return packed
  return await wrapForward(business, packed, spec.via.next, spec.via.mediator, business.did)
}

/**
 * `message` packed by the client library's own path builder, with the project's envelope as a
 * MeshAgent packs (not didcomm-node alone): the business's main DID is also its pairwise DID here,
 * and the wallet's DID names no routing keys.
 */
async function packMixed (business: ThirdPartyAgent, message: PlainMessage, path: MixPath): Promise<string> {
  const envelope = createEnvelope(business.resolver, kid => business.secrets.get(kid))
  return await packForMesh(envelope, message, {
    mediator: { did: path.mediator, mesh: true },
    routingKeys: false,
    mixes: path.mixes,
    node: { did: path.node, client: business.did, mesh: true }
  })
}
