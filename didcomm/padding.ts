import type { Envelope } from './envelope.ts'

/**
 * Size buckets, so that a message's size on the wire does not link the hops of its path nor tell
 * what it holds: 2 KiB steps up to 16 KiB, then powers of two.
 */
const STEP = 2048
const STEPPED_UP_TO = 16 * 1024
/** `,"pad":""`: the least a fill member adds to a JWE. */
const FILL_OVERHEAD = 9
/** Packs tried when aiming a plaintext pad at a bucket (each one is an encryption). */
const MAX_ROUNDS = 6
/** Characters below a bucket that are close enough: about one step of a block cipher in two layers. */
const CLOSE_ENOUGH = 32

/** The bucket a text of `size` characters is padded up to. */
export function bucketOf (size: number): number {
  if (size <= STEPPED_UP_TO) return Math.max(STEP, Math.ceil(size / STEP) * STEP)
  return 2 ** Math.ceil(Math.log2(size))
}

/**
 * A packed JWE (JSON serialisation) filled to exactly a bucket with a top-level `pad` member, which
 * JWE readers ignore. Only for layers a mesh node reads: it re-serialises the JSON it forwards, so
 * whitespace would not survive, but a member does. The fill is outside the encryption, so it
 * hides nothing from the layer's reader: it only evens out what the wire shows.
 */
export function fillJwe (packed: string): string {
  const compact = JSON.stringify(JSON.parse(packed) as unknown)
  const size = bucketOf(compact.length + FILL_OVERHEAD)
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
    const length = Math.min(fits + Math.max(1, Math.floor((limit - best.length) / growth)), Math.floor((fits + over) / 2))
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
