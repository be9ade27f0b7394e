/** Nearest-rank percentile (p in 0..1) of unsorted samples, to 0.01. */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)))
  return round(sorted[rank - 1] as number, 2)
}

export function perSecond (count: number, ms: number): number {
  return Math.round(count / (ms / 1000))
}

export function round (value: number, digits = 0): number {
  return Number(value.toFixed(digits))
}

/** Milliseconds `task` takes. */
export async function timed (task: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await task()
  return performance.now() - start
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
