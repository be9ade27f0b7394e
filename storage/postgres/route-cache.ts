/** Where a DID or alias routes: the client holding it and the recipient it stands for. */
export interface Route { client: string, recipient: string }

/**
 * The routes findRecipient read, so that a forward need not ask the database: only names found (a
 * name is added without telling anyone), dropped whole whenever any store removes routing names
 * (signals.ts), least recently used first past `maxBytes`. A read that was under way when the cache
 * was dropped is not kept: it may have seen the database before the removal.
 */
export class RouteCache {
  private readonly entries = new Map<string, Route>()
  private readonly maxBytes: number
  private readonly live: () => boolean
  private bytes = 0
  private generation = 0

  /** `live`: whether every removal is heard now; while not, nothing is kept. */
  constructor (maxBytes: number, live: () => boolean) {
    this.maxBytes = maxBytes
    this.live = live
  }

  async lookup (name: string, read: () => Promise<Route | undefined>): Promise<Route | undefined> {
    const hit = this.entries.get(name)
    if (hit !== undefined) {
      // Most recently used last.
      this.entries.delete(name)
      this.entries.set(name, hit)
      return hit
    }
    const generation = this.generation
    const route = await read()
    if (route !== undefined && generation === this.generation && this.live()) this.keep(name, route)
    return route
  }

  clear (): void {
    this.entries.clear()
    this.bytes = 0
    this.generation++
  }

  private keep (name: string, route: Route): void {
    const size = sizeOf(name, route)
    if (size > this.maxBytes || this.entries.has(name)) return
    this.entries.set(name, route)
    this.bytes += size
    for (const [oldest, evicted] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.entries.delete(oldest)
      this.bytes -= sizeOf(oldest, evicted)
    }
  }
}

/** Roughly what an entry holds in memory: its strings (two bytes a code unit) and the Map's own share. */
function sizeOf (name: string, route: Route): number {
  return 2 * (name.length + route.client.length + route.recipient.length) + 100
}
