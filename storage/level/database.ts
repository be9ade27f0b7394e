import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level'
import { migrate } from './migrations.ts'

/** Bump when the on-disk layout changes; a node refuses to open a store of another version. */
export const STORAGE_VERSION = 3

export type Database = Level<string, unknown>
export type Sublevel = AbstractSublevel<Database, string | Buffer | Uint8Array, string, unknown>
export type BatchOperation = AbstractBatchOperation<Database, string, unknown>

/** Joins the parts of a composite key (mailbox, mediation keylists, outbox); sorts before every other character. */
export const KEY_SEPARATOR = '\x00'

/** A named part of the database; values are JSON. */
export function sublevel (db: Database, name: string): Sublevel {
  return db.sublevel<string, unknown>(name, { valueEncoding: 'json' })
}

/**
 * One key's value, read on the calling thread: LevelDB answers from its cache in microseconds,
 * while an async get waits in libuv's thread pool behind the synced batch writes (6–20 ms per
 * forward under load, measured). A sublevel still opening (just created) is read the async way.
 */
export async function readKey (part: Sublevel, key: string): Promise<unknown> {
  return part.status === 'open' ? part.getSync(key) : await part.get(key)
}

export class StorageVersionError extends Error {
  override name = 'StorageVersionError'
}

/** Another process (a running node) has the directory open: LevelDB lets one process at a time in. */
export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
}

/** Whether `directory` holds a LevelDB database (its CURRENT file), without opening (or creating) it. */
export function levelDatabaseExists (directory: string): boolean {
  return existsSync(join(directory, 'CURRENT'))
}

/** Opens the node's single LevelDB directory and checks (or writes) its layout version, upgrading an older layout. */
export async function openDatabase (directory: string): Promise<Database> {
  return (await openAndUpgrade(directory)).db
}

/** openDatabase, also telling the layout version the store had before (undefined for a new store). */
export async function openAndUpgrade (directory: string): Promise<{ db: Database, found: number | undefined }> {
  const db = new Level<string, unknown>(directory, { valueEncoding: 'json' })
  try {
    await db.open()
  } catch (err) {
    if ((err as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED') {
      throw new StoreLockedError(`the LevelDB store at ${directory} is open in another process (a running node?): stop it first (or, for a copy while it runs, use \`didcomm-mesh backup\`)`, { cause: err })
    }
    throw err
  }
  const meta = sublevel(db, 'meta')
  const version = await meta.get('version')
  if (version === undefined) {
    await db.batch([{ type: 'put', sublevel: meta, key: 'version', value: STORAGE_VERSION }], { sync: true })
  } else if (version !== STORAGE_VERSION && !(typeof version === 'number' && await migrate(db, version, STORAGE_VERSION))) {
    await db.close()
    throw new StorageVersionError(`the LevelDB store at ${directory} has layout version ${String(version)}, this node expects ${STORAGE_VERSION}${typeof version === 'number' && version > STORAGE_VERSION ? ': a newer node wrote it, upgrade this one' : ''}`)
  }
  return { db, found: version as number | undefined }
}

/**
 * Group commit: every caller gets its own promise, but all operations that arrive while one synced
 * batch is on its way to disk go out together in the next one, so durability costs one fsync per
 * batch rather than one per message.
 */
export class GroupCommit {
  private readonly db: Database
  private pending: Array<{ ops: BatchOperation[], done: PromiseWithResolvers<void> }> = []
  private writing = false

  constructor (db: Database) {
    this.db = db
  }

  async write (ops: BatchOperation[]): Promise<void> {
    const done = Promise.withResolvers<void>()
    this.pending.push({ ops, done })
    if (!this.writing) void this.flush()
    return done.promise
  }

  private async flush (): Promise<void> {
    this.writing = true
    while (this.pending.length > 0) {
      const group = this.pending
      this.pending = []
      try {
        await this.db.batch(group.flatMap(entry => entry.ops), { sync: true })
        for (const entry of group) entry.done.resolve()
      } catch (err) {
        for (const entry of group) entry.done.reject(err)
      }
    }
    this.writing = false
  }
}
