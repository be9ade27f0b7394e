/**
 * Where a forward scan of a mailbox box may start. An acknowledged message leaves a tombstone at
 * its box's head until LevelDB compacts it, and a scan from the box's start steps over every one:
 * draining a 20,000-message box slowed pickup from 4,000 to 2,500 messages a second as it emptied,
 * each delivery and status stepping over all that had gone before (measured). So per box a floor:
 * a key no live message sorts below, raised to the first live key a scan finds.
 *
 * Safe under concurrent writes: a write's key lowers the floor once the write is durable, and a
 * scan raises the floor only if nothing touched it since the scan began (its ticket is still the
 * entry in the map), so a key the scan's snapshot missed is never left below the floor. Bounded:
 * past `capacity` boxes the oldest entry goes (its box is scanned from the start again), and a
 * scan that began on a box without an entry may not raise after any eviction.
 */
export interface FloorTicket {
  readonly entry: { readonly from: string | undefined } | undefined
  readonly evictions: number
}

export class BoxFloors {
  private readonly floors = new Map<string, { readonly from: string | undefined }>()
  private readonly capacity: number
  private evictions = 0

  constructor (capacity: number) {
    this.capacity = capacity
  }

  /** Where a scan of `box` may start (undefined: at the box's start), and the ticket to raise it with. */
  start (box: string): { from: string | undefined, ticket: FloorTicket } {
    const entry = this.floors.get(box)
    return { from: entry?.from, ticket: { entry, evictions: this.evictions } }
  }

  /** A scan begun with `ticket` found no live key of `box` below `key`. */
  raise (box: string, ticket: FloorTicket, key: string): void {
    if (this.floors.get(box) !== ticket.entry) return
    if (ticket.entry === undefined && ticket.evictions !== this.evictions) return
    this.set(box, key)
  }

  /** `key` was written to `box`: the floor goes no higher than it, and scans under way may not raise it. */
  lower (box: string, key: string): void {
    const from = this.floors.get(box)?.from
    // A fresh entry even when the floor stays, so that a scan under way (whose snapshot may have missed this key) cannot raise it.
    this.set(box, from !== undefined && key < from ? key : from)
  }

  private set (box: string, from: string | undefined): void {
    this.floors.delete(box)
    this.floors.set(box, { from })
    if (this.floors.size > this.capacity) {
      const oldest = this.floors.keys().next().value as string
      this.floors.delete(oldest)
      this.evictions++
    }
  }
}
