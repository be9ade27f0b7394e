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

/** A least-squares line's slope and the standard error of that slope (NaN with fewer than three points). */
export interface Slope { slope: number, standardError: number }

/** The least-squares slope of y over x: how fast y grows per unit of x, and how sure that is. */
export function leastSquaresSlope (points: ReadonlyArray<readonly [x: number, y: number]>): Slope {
  const n = points.length
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  const sxx = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0)
  const sxy = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0)
  const slope = sxy / sxx
  const residuals = points.reduce((sum, [x, y]) => sum + (y - meanY - slope * (x - meanX)) ** 2, 0)
  return { slope, standardError: n < 3 ? NaN : Math.sqrt(residuals / (n - 2) / sxx) }
}
