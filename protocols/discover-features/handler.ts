import { z } from 'zod'
import type { Handler } from '../message.ts'
import { parseBody, replyTo } from '../message.ts'

export const DISCOVER_FEATURES_PROTOCOL = 'https://didcomm.org/discover-features/2.0'

const queriesBody = z.object({
  queries: z.array(z.object({ 'feature-type': z.string(), match: z.string() })).max(100)
})

export interface Feature { 'feature-type': 'protocol' | 'constraint', id: string, roles?: string[], value?: unknown }

/** `*` matches any run of characters; everything else literally. */
function globToRegExp (glob: string): RegExp {
  return new RegExp('^' + glob.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
}

/** Discloses only what `features` lists: the dispatcher derives it from its own handler table. */
export function discoverFeaturesHandlers (features: () => Feature[]): Record<string, Handler> {
  return {
    [`${DISCOVER_FEATURES_PROTOCOL}/queries`]: async (inbound, ctx) => {
      const { queries } = parseBody(queriesBody, inbound)
      const disclosures = features().filter(f => queries.some(q => q['feature-type'] === f['feature-type'] && globToRegExp(q.match).test(f.id)))
      return { replies: [replyTo(inbound, ctx, `${DISCOVER_FEATURES_PROTOCOL}/disclose`, { disclosures })] }
    },
    [`${DISCOVER_FEATURES_PROTOCOL}/disclose`]: async () => ({})
  }
}
