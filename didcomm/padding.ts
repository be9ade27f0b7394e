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
/** `,"pad":""`: the least a pad member adds to a JSON object. */
const PAD_OVERHEAD = 9

/** The bucket a plaintext of `size` bytes is padded up to. */
export function bucketOf (size: number): number {
  const step = size <= STEPPED_UP_TO ? STEP : 2 ** (Math.floor(Math.log2(size)) - DOUBLING_STEPS_LOG2)
  return Math.max(STEP, Math.ceil(size / step) * step)
}

/** The size a forward layer is filled to: the next multiple of 2 KiB. */
export function forwardSizeOf (size: number): number {
  return Math.max(STEP, Math.ceil(size / STEP) * STEP)
}

/** `json`, a non-empty JSON object's text, with a last member `pad` of `length` spaces. */
function withPad (json: string, length: number): string {
  return `${json.slice(0, -1)},"pad":"${' '.repeat(length)}"}`
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
  return withPad(compact, forwardSizeOf(compact.length + PAD_OVERHEAD) - compact.length - PAD_OVERHEAD)
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

/**
 * padded() for a message serialised already (`json`, with no `pad` member): the same bucket from one
 * serialisation instead of two, which a pickup delivery of hundreds of KB notices.
 */
export function paddedJson (json: string): string {
  const size = Buffer.byteLength(json) + PAD_OVERHEAD
  return withPad(json, bucketOf(size) - size)
}

/** `envelope` with every message it packs padded (the `pad` pack option); unpacking is unchanged. */
export function paddedEnvelope (envelope: Envelope): Envelope {
  return {
    ...envelope,
    pack: async (message, to, from, options) => await envelope.pack(message, to, from, { ...options, pad: true })
  }
}
