import { z } from 'zod'
import { DID_LIMITS } from '../../didcomm/resolver.ts'

/**
 * This project's own protocol: a client asks its node for mix nodes, the mesh peers whose mediator
 * DIDs it may put on a message's path as hops (design §5a).
 */
export const MIX_DIRECTORY_PROTOCOL = 'https://didcomm-mesh.org/mix-directory/1.0'
export const MIX_QUERY = `${MIX_DIRECTORY_PROTOCOL}/query`
export const MIX_LIST = `${MIX_DIRECTORY_PROTOCOL}/mixes`

/** DIDs in one answer: a path needs at most three, and a random sample of this many is plenty to draw from. */
export const MAX_LISTED_MIXES = 64

export const queryBody = z.object({})

/** The answer, as a client reads it (from its own node, but still bounded). */
export const mixListBody = z.object({ mixes: z.array(z.string().min(1).max(DID_LIMITS.maxLength)).max(MAX_LISTED_MIXES) })

/** Mix hops a sender may put on one path. */
export const MAX_MIX_HOPS = 3

/** A uniformly random sample of at most `count` of `items` (Fisher-Yates on a copy). */
export function randomSample<T> (items: readonly T[], count: number): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
  }
  return copy.slice(0, count)
}
