import type { Mediations } from '../../storage/store.ts'
import { requireMediation } from '../coordinate-mediation/handler.ts'
import type { Handler } from '../message.ts'
import { parseBody, replyTo } from '../message.ts'
import { MAX_LISTED_MIXES, MIX_LIST, MIX_QUERY, queryBody, randomSample } from './messages.ts'

export interface MixDirectoryComponents {
  mediations: Pick<Mediations, 'get'>
  /** Mediator DIDs of the mesh peers offering to mix (never this node's). */
  mixes: () => readonly string[]
}

/** Answers this node's own clients (a DID holding mediation here) with the mix nodes it knows. */
export function mixDirectoryHandlers (components: MixDirectoryComponents): Record<string, Handler> {
  return {
    [MIX_QUERY]: async (inbound, ctx) => {
      parseBody(queryBody, inbound)
      await requireMediation(inbound, components.mediations)
      return { replies: [replyTo(inbound, ctx, MIX_LIST, { mixes: randomSample(components.mixes(), MAX_LISTED_MIXES) })] }
    }
  }
}
