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
/** Packs tried when aiming a plaintext pad at a bucket (each one is an encryption). */
const MAX_ROUNDS = 6
/** Characters below a bucket that are close enough: about one step of a block cipher in two layers. */
const CLOSE_ENOUGH = 32

/** The bucket the padded plaintext of a message of `size` characters (packed) is brought up to. */
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
 * Packs a message whose plaintext carries a `pad` header (which recipients ignore) long enough that
 * the packed text lands just below a bucket boundary: within one step of the cipher (a few dozen
 * characters for authcrypt's block cipher wrapped in anoncrypt). `pack` packs the message with the
 * given pad. The pad is inside the encryption, so only the recipient learns the real size.
 */
export async function packPadded (pack: (pad: string) => Promise<string>): Promise<string> {
  let best = await pack('')
  const limit = bucketOf(best.length)
  // Pad lengths known to fit (`fits`) and known to overshoot (`over`).
  let fits = 0
  let over = Infinity
  // Packed size grows by 4/3 per pad byte (base64url), up to about 2 when layers nest: aim below first.
  let growth = 2.5
  for (let round = 0; round < MAX_ROUNDS && limit - best.length >= CLOSE_ENOUGH && over - fits > 1; round++) {
    // Aimed half of CLOSE_ENOUGH below the limit: a cipher step's rounding then stays under it.
    const length = Math.min(fits + Math.max(1, Math.floor((limit - CLOSE_ENOUGH / 2 - best.length) / growth)), Math.floor((fits + over) / 2))
    const tried = await pack(' '.repeat(length))
    if (tried.length > limit) {
      over = length
      continue
    }
    growth = Math.max(4 / 3, (tried.length - best.length) / (length - fits))
    fits = length
    best = tried
  }
  return best
}

/** `envelope` with every message it packs padded (packPadded); unpacking is unchanged. */
export function paddedEnvelope (envelope: Envelope): Envelope {
  return {
    ...envelope,
    pack: async (message, to, from, options) => await packPadded(async pad => await envelope.pack({ ...message, pad }, to, from, options))
  }
}
