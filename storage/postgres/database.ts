import { createHash } from 'node:crypto'
import postgres from 'postgres'
import { StoreUnavailableError } from '../store.ts'
import { watchReachability } from './health.ts'

/** Every table lives in this schema, apart from whatever else the operator's database holds. */
export const SCHEMA = 'didcomm_mesh'

/** Runs one statement (several, without values) and returns its rows: on the pool, or in one transaction. */
export interface Queryable {
  query<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>
}

export interface Database extends Queryable {
  /** Runs `work` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>
  /** False from the first sign the server is gone until a check reaches it again. */
  reachable(): boolean
  /** A connection of its own (for LISTEN), made with the pool's settings; `onclose` whenever it drops. */
  dedicated(handlers: { onnotify: (channel: string, payload: string) => void, onclose: () => void }): postgres.Sql
  close(): Promise<void>
}

export interface DatabaseOptions {
  /** Connections in the pool (reads run in parallel; group commits use one at a time). */
  poolSize?: number
  /** How often the server is checked while the store is open. */
  healthIntervalMs?: number
}

/** sha-256 of a DID: fixed-size keys for names that run to kilobytes (did:peer:2), which no index key can hold whole. */
export function hashOf (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** The server refused one statement but the session is intact: the statement's own failure, not the connection's. */
export function isStatementError (err: unknown): boolean {
  return err instanceof postgres.PostgresError && err.severity === 'ERROR'
}

/** A deadlock victim or a serialization failure: nothing wrong with the work, it may simply run again. */
export function isTransient (err: unknown): boolean {
  return err instanceof postgres.PostgresError && (err.code === '40P01' || err.code === '40001')
}

/** The server cannot be reached or went away: postgres.js's own connection errors, or the socket's. */
function isConnectionError (err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return err.severity === 'FATAL' || err.severity === 'PANIC'
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(CONNECT_TIMEOUT|CONNECTION_(CLOSED|DESTROYED|ENDED)|E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN))$/.test(code)
}

export function openDatabase (url: string, options: DatabaseOptions = {}): Database {
  const settings = {
    connect_timeout: 5,
    onnotice: () => {},
    // Durability is the point of every write: on, whatever the server's or the role's default.
    connection: { application_name: 'didcomm-mesh', synchronous_commit: 'on' },
    // bigint and numeric (counts, sums, epoch milliseconds) as numbers: none of ours comes near 2^53.
    types: { number: { to: 20, from: [20, 1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } }
  }
  const sql = postgres(url, { ...settings, max: options.poolSize ?? 10 })
  const health = watchReachability(async () => await sql`SELECT 1`, options.healthIntervalMs ?? 2000)

  /**
   * Notes a failure that is not a statement's (a connection refused, closed, timed out) and passes it
   * on as the store being unavailable: the node answers 503 and the sender tries again (a write that
   * did commit after all is then a duplicate, kept once).
   */
  function observed (err: unknown): never {
    if (!isConnectionError(err)) throw err
    health.failed()
    throw new StoreUnavailableError('the database cannot be reached', { cause: err })
  }

  const on = (target: postgres.Sql | postgres.TransactionSql): Queryable => ({
    async query<Row> (text: string, values?: readonly unknown[]) {
      // Statements with values are prepared once per connection; those without may be several at once.
      const pending = values === undefined
        ? target.unsafe(text).simple()
        : target.unsafe(text, values.map(value => Array.isArray(value) ? sql.array(value) : value) as postgres.ParameterOrJSON<never>[], { prepare: true })
      return await pending as unknown as Row[]
    }
  })
  const pool = on(sql)

  return {
    // Never recycled by age (the pool's connections are, after 30 to 60 minutes): a listener would miss what is sent meanwhile.
    dedicated: handlers => postgres(url, { ...settings, ...handlers, max: 1, max_lifetime: null }),
    async query<Row> (text: string, values?: readonly unknown[]) {
      return await pool.query<Row>(text, values).catch(observed)
    },
    async transaction<T> (work: (tx: Queryable) => Promise<T>): Promise<T> {
      return await sql.begin(async tx => await work(on(tx))).catch(observed) as T
    },
    reachable: health.reachable,
    async close () {
      health.stop()
      await sql.end({ timeout: 5 })
    }
  }
}
