/** What the benchmark sends: a basic message for a wallet's DID, wrapped in forwards as a business would send it. */
import { BASIC, ThirdPartyAgent, wrapForward } from './agent.ts'

/** A mesh hop in front: the message goes first to `mediator` (the business's node), which passes it on to `next`. */
export interface Via { next: string, mediator: string }

export interface ForwardSpec {
  /** The wallet's (pairwise) DID, routed through its mediator. */
  to: string
  bodyBytes: number
  via?: Via
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

/** One message from `business` to `spec.to`: authcrypted, wrapped in a forward for the wallet's mediator (and one more for `via`). */
export async function packForward (business: ThirdPartyAgent, spec: ForwardSpec): Promise<string> {
  const message = business.message(BASIC, { content: 'x'.repeat(spec.bodyBytes) }, spec.to)
  const packed = await business.pack(message, spec.to, business.did, { forward: true })
  if (spec.via === undefined) return packed
  return await wrapForward(business, packed, spec.via.next, spec.via.mediator, business.did)
}
