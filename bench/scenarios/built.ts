/**
 * The node as the image runs it: built by `npm run build`'s compile, then `node <build>/node/cli.js
 * start` with npm start's heap flags (the image sets the same in NODE_OPTIONS), its idle RSS read as
 * for rss_idle_mb. Without type stripping's cost: what an operator's node takes.
 */
import { buildToScratch } from '../lib/build.ts'
import { withChildNode } from '../lib/child-node.ts'
import { removeScratch } from '../lib/cleanup.ts'
import type { Figures } from '../lib/figures.ts'
import type { Settings } from '../lib/settings.ts'
import { sleep } from '../lib/stats.ts'

export async function builtIdleScenario (settings: Settings): Promise<Figures> {
  const built = await buildToScratch()
  try {
    return await withChildNode([], async node => {
      await sleep(settings.idleSettleMs)
      return { rss_idle_built_mb: node.rssMb() }
    }, { built })
  } finally {
    await removeScratch(built)
  }
}
