/**
 * A Map trimmed to its most recently used entries, within a budget of bytes (each entry's `sizeOf`):
 * for caches keyed by values from outside, which a count alone does not bound.
 */
export class ByteLru<V> {
  readonly #maxBytes: number
  readonly #sizeOf: (key: string, value: V) => number
  readonly #map = new Map<string, { value: V, size: number }>()
  #bytes = 0

  constructor (maxBytes: number, sizeOf: (key: string, value: V) => number) {
    this.#maxBytes = maxBytes
    this.#sizeOf = sizeOf
  }

  get (key: string): V | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    this.#map.delete(key)
    this.#map.set(key, entry)
    return entry.value
  }

  set (key: string, value: V): void {
    this.delete(key)
    const size = this.#sizeOf(key, value)
    if (size > this.#maxBytes) return
    this.#map.set(key, { value, size })
    this.#bytes += size
    for (const oldest of this.#map.keys()) {
      if (this.#bytes <= this.#maxBytes) break
      this.delete(oldest)
    }
  }

  delete (key: string): void {
    const entry = this.#map.get(key)
    if (entry === undefined) return
    this.#map.delete(key)
    this.#bytes -= entry.size
  }
}
