import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { clientKey } from '../store.ts'
import type { MailSignals } from '../store.ts'
import type { Database, Queryable } from './database.ts'

/** The NOTIFY channel; a payload is `<announcing store> <clientKey>`: never a DID. */
const CHANNEL = 'didcomm_mesh_mail'
/** The NOTIFY channel that tells every store some routing name went (no payload): their route caches start again. */
const ROUTES = 'didcomm_mesh_routes'
const RELISTEN_RETRY_MS = 1000

export interface OpenSignals extends MailSignals {
  /**
   * Calls `listener` when any store (this one included) commits a removal of routing names, and
   * whenever the listening connection drops (what was sent meanwhile is lost).
   */
  onRoutesChanged(listener: () => void): void
  /** Whether LISTEN holds now: only then is every removal of routing names heard. */
  listening(): boolean
  close(): Promise<void>
}

/** Within the transaction that removes routing names: heard by every store once (and only if) it commits. */
export async function notifyRoutesChanged (tx: Queryable): Promise<void> {
  await tx.query(`SELECT pg_notify('${ROUTES}', '')`, [])
}

/**
 * MailSignals over LISTEN/NOTIFY, and the removals of routing names (for the route caches),
 * listening on a connection of its own. When that connection drops,
 * LISTEN is issued again (which reconnects) until it holds; what is announced meanwhile is lost, as
 * the interface allows.
 */
export async function openMailSignals (db: Database): Promise<OpenSignals> {
  // Names this store in what it announces, so it does not hear itself (another store in the same process is another sender).
  const self = randomUUID()
  const listeners = new Set<(key: string) => void>()
  const routeListeners: Array<() => void> = []
  let closed = false
  // Whether the listening connection has dropped since LISTEN last held on it.
  let dropped = false
  // Whether LISTEN holds now (false from a drop until LISTEN holds again).
  let holding = false
  const routesChanged = (): void => { for (const listener of routeListeners) listener() }
  let relistening: Promise<void> | undefined

  const connection = db.dedicated({
    onnotify (channel, payload) {
      if (channel === ROUTES) {
        routesChanged()
        return
      }
      const [sender, key] = payload.split(' ')
      if (channel !== CHANNEL || sender === self || key === undefined) return
      // Off the driver's read loop: a listener's failure must not break the connection.
      for (const listener of listeners) queueMicrotask(() => { listener(key) })
    },
    onclose () {
      dropped = true
      holding = false
      routesChanged()
      relisten()
    }
  })
  const listen = async (): Promise<void> => {
    await connection.unsafe(`LISTEN ${CHANNEL}`)
    await connection.unsafe(`LISTEN ${ROUTES}`)
    holding = !dropped
  }

  function relisten (): void {
    if (closed || relistening !== undefined) return
    relistening = (async () => {
      while (dropped && !closed) {
        dropped = false
        await listen().catch(async () => {
          dropped = true
          await sleep(RELISTEN_RETRY_MS, undefined, { ref: false })
        })
      }
    })().finally(() => {
      relistening = undefined
      // Dropped again between the last LISTEN and here.
      if (dropped) relisten()
    })
  }

  // Announcements made in one turn of the event loop go out in one statement, each client once.
  let batch: Set<string> | undefined
  const send = (keys: Set<string>): void => {
    db.query(`SELECT pg_notify($1, $2 || ' ' || key) FROM unnest($3::text[]) AS key`, [CHANNEL, self, [...keys]]).catch(() => {})
  }

  await listen()
  return {
    announce (client) {
      if (batch === undefined) {
        const keys = batch = new Set()
        setImmediate(() => {
          batch = undefined
          send(keys)
        })
      }
      batch.add(clientKey(client))
    },
    listen (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    onRoutesChanged (listener) {
      routeListeners.push(listener)
    },
    listening: () => holding && !closed,
    async close () {
      closed = true
      listeners.clear()
      await connection.end({ timeout: 1 })
    }
  }
}
