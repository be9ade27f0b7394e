/** A node's own figures, read from its GET /metrics (Prometheus text, prom-client's default metrics among them). */

/** The samples of one scrape, by metric name, each the sum over its label sets. */
export type Scrape = ReadonlyMap<string, number>

/** Parses Prometheus text exposition: `name{labels} value` lines, comments skipped, label sets summed. */
export function parseMetrics (text: string): Scrape {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line)
    if (match === null) continue
    const [, name, value] = match as unknown as [string, string, string]
    values.set(name, (values.get(name) ?? 0) + Number(value))
  }
  return values
}

/** One metric of a scrape; a metric the node does not expose fails the run, naming it. */
export function metric (scrape: Scrape, name: string): number {
  const value = scrape.get(name)
  if (value === undefined || !Number.isFinite(value)) throw new Error(`the node's /metrics has no ${name}`)
  return value
}

/**
 * Scrapes the node at `nodeUrl`. Its event-loop delay histogram restarts at every scrape (prom-client
 * resets it on collect), so the percentiles read cover the time since the previous scrape.
 */
export async function scrapeMetrics (nodeUrl: string): Promise<Scrape> {
  const res = await fetch(new URL('/metrics', nodeUrl))
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`)
  return parseMetrics(await res.text())
}
