import type { Envelope } from './envelope.ts'

/**
 * Size buckets, so that a message's size on the wire does not tell what it holds, nor link the hops
 * of its path: 2 KiB steps up to 16 KiB, then eight steps per doubling (at most 12.5 % added; whole
 * powers of two would double a message that is just over one).
 */
const STEP = 2048
const STEPPED_UP_TO = 16 * 1024
/** Buckets per doubling above STEPPED_UP_TO, as a power of two. */
const DOUBLING_STEPS_LOG2 = 3
/** `,"pad":""`: the least a fill member adds to a JWE. */
const FILL_OVERHEAD = 9

/** The bucket a plaintext of `size` bytes is padded up to. */
export function bucketOf (size: number): number {
  const step = size <= STEPPED_UP_TO ? STEP : 2 ** (Math.floor(Math.log2(size)) - DOUBLING_STEPS_LOG2)
  return Math.max(STEP, Math.ceil(size / step) * step)
}

/** The size a forward layer is filled to: the next multiple of 2 KiB. */
export function forwardSizeOf (size: number): number {
  return Math.max(STEP, Math.ceil(size / STEP) * STEP)
}

/**
 * A forward (a packed JWE, JSON serialisation) filled to a multiple of 2 KiB with a top-level `pad`
 * member, which JWE readers ignore. What it wraps is already of a bucket size, so its own size
 * varies only with the DIDs in its header: the fill evens that out. A bucket per layer instead
 * would compound (a layer is 4/3 of what it wraps, base64url), doubling the size at each hop.
 * Only for layers a mesh node reads: it re-serialises the JSON it forwards, so whitespace would not
 * survive, but a member does. The fill is outside the encryption: it only evens out the wire.
 */
export function fillJwe (packed: string): string {
  const compact = JSON.stringify(JSON.parse(packed) as unknown)
  const size = forwardSizeOf(compact.length + FILL_OVERHEAD)
  return `${compact.slice(0, -1)},"pad":"${' '.repeat(size - compact.length - FILL_OVERHEAD)}"}`
}

/**
 * `message` with a `pad` header (which recipients ignore) bringing its JSON to a bucket size. Its
 * size once packed is a function of that size and of the keys it is packed for, so messages of one
 * bucket to one recipient are the same size on the wire, with one encryption each. The pad is inside
 * the encryption: only the recipient learns the real size.
 */
export function padded<T extends object> (message: T): T & { pad: string } {
  const size = Buffer.byteLength(JSON.stringify({ ...message, pad: '' }))
  return { ...message, pad: ' '.repeat(bucketOf(size) - size) }
}

/** `envelope` with every message it packs padded; unpacking is unchanged. */
export function paddedEnvelope (envelope: Envelope): Envelope {
  return {
    ...envelope,
    pack: async (message, to, from, options) => await envelope.pack(padded(message), to, from, options)
  }
}
