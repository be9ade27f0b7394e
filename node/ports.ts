/**
 * The ports a node listens on, as the operator names them. Several nodes on one host differ by
 * `--p2p-port` alone: the libp2p WebSocket port follows it unless given. A port that is taken stops
 * the start with an error naming the flag that chooses it, not libp2p's or Node's own words.
 */
import type { Config } from '../config/schema.ts'

export class PortInUseError extends Error {
  override name = 'PortInUseError'
}

/** `--p2p-ws-port`, or `--p2p-port` + 1 when it is not given (any free port when that is 0). */
export function libp2pWsPort (config: Pick<Config, 'p2pPort' | 'p2pWsPort'>): number {
  if (config.p2pWsPort !== undefined) return config.p2pWsPort
  if (config.p2pPort === 0) return 0
  if (config.p2pPort === 65535) throw new Error('--p2p-port 65535 leaves no port above it for the libp2p WebSocket listener: set --p2p-ws-port')
  return config.p2pPort + 1
}

const inUse = (err: unknown): boolean => (err as { code?: unknown } | undefined)?.code === 'EADDRINUSE'

/** `err` from listening on the HTTP port, named after its flag when the port was taken. */
export function httpListenError (err: unknown, port: number): unknown {
  return inUse(err) ? new PortInUseError(`HTTP port ${port} is already in use: choose another with --http-port`, { cause: err }) : err
}

/**
 * `err` from starting libp2p, named after the flag when a port was taken. libp2p reports each
 * listen address that failed, with Node's EADDRINUSE text, in one message.
 */
export function libp2pListenError (err: unknown, config: Pick<Config, 'p2pPort' | 'p2pWsPort'>): unknown {
  const text = err instanceof Error ? err.message : ''
  const taken = /\/tcp\/(\d+)(\/ws)?: Error: listen EADDRINUSE/.exec(text)
  if (taken === null) return err
  const port = taken[1] as string
  if (taken[2] === undefined) return new PortInUseError(`libp2p TCP port ${port} is already in use: choose another with --p2p-port`, { cause: err })
  const derived = config.p2pWsPort === undefined ? ' (it is --p2p-port + 1 when not given)' : ''
  return new PortInUseError(`libp2p WebSocket port ${port}${derived} is already in use: choose another with --p2p-ws-port`, { cause: err })
}
