import { pino } from 'pino'
import type { Logger } from 'pino'

export function createLogger (level: string): Logger {
  return pino({ level, base: { service: 'didcomm-mesh' } })
}

/** DIDs in logs are shortened: enough to tell them apart, not enough to correlate a user across logs. */
export function shortDid (did: string | undefined): string | undefined {
  if (did === undefined || did.length <= 24) return did
  return `${did.slice(0, 14)}…${did.slice(-6)}`
}
