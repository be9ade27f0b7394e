/**
 * The PostgreSQL driver (postgres.js 3.4.9) writes a small message on the next turn of the event
 * loop; when its connection closed in between, that write threw from a timer, out of reach of any
 * catch, and took the node down (porsager/postgres#1208; a replica died this way in CI while the
 * server restarted). patches/postgres+3.4.9.patch settles the write as a closed connection instead.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import postgres from 'postgres'
import { waitFor } from '../../bench/lib/wait.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import type { TestPostgres } from '../helpers/postgres.ts'

const lostConnection = (err: Error & { code?: string }): boolean => ['CONNECTION_CLOSED', 'ECONNRESET'].includes(err.code ?? '') || /terminat/.test(err.message)

let server: TestPostgres
before(async () => { server = await startTestPostgres() })
after(async () => { await server?.stop() })

it('a query on a connection whose server end was terminated is rejected, and the process lives on', async () => {
  const url = await server.createDatabase()
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  const killer = postgres(url, { max: 1, onnotice: () => {} })
  try {
    // A reserved connection cannot be swapped for another: every query goes to the dead one.
    const reserved = await sql.reserve()
    const [row] = await reserved`SELECT pg_backend_pid() AS pid`
    await killer`SELECT pg_terminate_backend(${row?.pid as number})`
    // Rejected as the connection's loss (how it shows depends on when the close arrived); without the
    // patch, one of these throws from a setImmediate instead and the test process exits.
    for (let i = 0; i < 3; i++) await assert.rejects(reserved`SELECT 1`, lostConnection)
    reserved.release()
    // The pool takes the dead connection back, fails on it once more at most, and connects again.
    const one = await waitFor(async () => await sql`SELECT 1 AS one`.catch(() => undefined), 5_000, 'the pool to serve again')
    assert.deepEqual([...one], [{ one: 1 }])
  } finally {
    await sql.end({ timeout: 1 })
    await killer.end({ timeout: 1 })
  }
})
