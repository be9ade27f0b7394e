import { NotFoundError } from '@libp2p/interface'
import type { AbortOptions } from '@libp2p/interface'
import { BaseDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import type { KeyQuery, Pair, Query } from 'interface-datastore'
import { SCHEMA } from './database.ts'
import type { Database } from './database.ts'
import type { GroupCommit } from './group-commit.ts'

const RECORDS = `${SCHEMA}.libp2p_datastore`

/**
 * Above every key that starts with a prefix, in the column's byte order (COLLATE "C"): the prefix
 * and the highest code point. Only a key with U+10FFFF right after the prefix would be missed, and
 * libp2p's keys are ASCII.
 */
const pastPrefix = (prefix: string): string => prefix + '\u{10FFFF}'

/** A key range for a query's prefix, or everything. */
function range (prefix: string | undefined): { where: string, values: string[] } {
  return prefix === undefined ? { where: '', values: [] } : { where: 'WHERE key >= $1 AND key < $2', values: [prefix, pastPrefix(prefix)] }
}

/**
 * libp2p's datastore (peer store, DHT records) on a table of the store's database, so every replica
 * and every restart sees one record of its peers. Writes share the group commit; BaseDatastore adds
 * the query filters, orders, offsets and limits on top of the prefix range read here.
 */
export class PostgresDatastore extends BaseDatastore {
  private readonly db: Database
  private readonly commit: GroupCommit

  constructor (db: Database, commit: GroupCommit) {
    super()
    this.db = db
    this.commit = commit
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    options?.signal?.throwIfAborted()
    await this.commit.run(async tx => await tx.query(`INSERT INTO ${RECORDS} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [key.toString(), value]))
    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    const [row] = await this.db.query<{ value: Buffer }>(`SELECT value FROM ${RECORDS} WHERE key = $1`, [key.toString()])
    if (row === undefined) throw new NotFoundError(`no record for ${key.toString()}`)
    return bytesOf(row.value)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return (await this.db.query(`SELECT 1 FROM ${RECORDS} WHERE key = $1`, [key.toString()])).length > 0
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.commit.run(async tx => await tx.query(`DELETE FROM ${RECORDS} WHERE key = $1`, [key.toString()]))
  }

  override async * _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    const { where, values } = range(q.prefix)
    const rows = await this.db.query<{ key: string, value: Buffer }>(`SELECT key, value FROM ${RECORDS} ${where} ORDER BY key`, values)
    for (const row of rows) {
      options?.signal?.throwIfAborted()
      yield { key: new Key(row.key, false), value: bytesOf(row.value) }
    }
  }

  override async * _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    const { where, values } = range(q.prefix)
    const rows = await this.db.query<{ key: string }>(`SELECT key FROM ${RECORDS} ${where} ORDER BY key`, values)
    for (const row of rows) {
      options?.signal?.throwIfAborted()
      yield new Key(row.key, false)
    }
  }
}

/** A plain Uint8Array over the driver's Buffer, as libp2p's other datastores return. */
function bytesOf (buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
