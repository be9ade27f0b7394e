/**
 * An in-memory `Pluto.Store` for the Identus SDK (7.x) in Node tests.
 *
 * The SDK's `Pluto` class keeps its records through a small `Store` interface (query / insert / update /
 * delete by table name and `uuid`) and ships no implementation for Node (its own tests use RxDB). The
 * repositories inside `Pluto` query with Mango-style selectors: field equality, `$and` (a repository's
 * base model and the caller's selector), and `$or` over lists that may be empty (an empty `$or` matches
 * nothing: `getDIDPrivateKeysByDID` of a DID without keys must not return every key). This store
 * implements that subset, plus the common comparison operators, sort, skip and limit, and throws on
 * any operator it does not know so that a new SDK query shows up as a test failure, not a wrong answer.
 */
import type { Model, Pluto } from '@hyperledger/identus-sdk'

type Row = Record<string, unknown> & { uuid: string }
type Selector = Record<string, unknown>
interface MangoQuery {
  selector?: Selector
  sort?: Array<Record<string, 'asc' | 'desc'>>
  skip?: number
  limit?: number
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RegExp)
}

function valueAt (row: unknown, path: string): unknown {
  let value: unknown = row
  for (const part of path.split('.')) {
    if (value === null || value === undefined) return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

function equal (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  return JSON.stringify(a) === JSON.stringify(b)
}

function compare (a: unknown, b: unknown): number {
  if (a === b) return 0
  if (a === undefined || a === null) return -1
  if (b === undefined || b === null) return 1
  return (a as number | string) < (b as number | string) ? -1 : 1
}

function matchesOperators (value: unknown, operators: Record<string, unknown>): boolean {
  return Object.entries(operators).every(([op, arg]) => {
    switch (op) {
      case '$eq': return equal(value, arg)
      case '$ne': return !equal(value, arg)
      case '$gt': return value !== undefined && compare(value, arg) > 0
      case '$gte': return value !== undefined && compare(value, arg) >= 0
      case '$lt': return value !== undefined && compare(value, arg) < 0
      case '$lte': return value !== undefined && compare(value, arg) <= 0
      case '$in': return (arg as unknown[]).some(item => equal(value, item))
      case '$nin': return !(arg as unknown[]).some(item => equal(value, item))
      case '$exists': return (value !== undefined) === arg
      case '$regex': {
        const flags = typeof operators.$options === 'string' ? operators.$options : undefined
        return typeof value === 'string' && (arg instanceof RegExp ? arg : new RegExp(arg as string, flags)).test(value)
      }
      case '$options': return true
      case '$not': return !matchesField(value, arg)
      default: throw new Error(`memory store: unsupported query operator ${op}`)
    }
  })
}

function matchesField (value: unknown, condition: unknown): boolean {
  if (isPlainObject(condition) && Object.keys(condition).some(key => key.startsWith('$'))) {
    return matchesOperators(value, condition)
  }
  return equal(value, condition)
}

export function matches (row: unknown, selector: Selector | undefined): boolean {
  if (selector === undefined) return true
  return Object.entries(selector).every(([key, condition]) => {
    switch (key) {
      case '$and': return (condition as Selector[]).every(part => matches(row, part))
      case '$or': return (condition as Selector[]).some(part => matches(row, part))
      case '$nor': return !(condition as Selector[]).some(part => matches(row, part))
      default:
        if (key.startsWith('$')) throw new Error(`memory store: unsupported query operator ${key}`)
        return matchesField(valueAt(row, key), condition)
    }
  })
}

export class MemoryStore implements Pluto.Store {
  /** table name → uuid → a copy of the stored row, in insertion order */
  readonly tables = new Map<string, Map<string, Row>>()

  private table (name: string): Map<string, Row> {
    let table = this.tables.get(name)
    if (table === undefined) {
      table = new Map()
      this.tables.set(name, table)
    }
    return table
  }

  async query<T extends Model> (table: string, query?: unknown): Promise<T[]> {
    const mango = (query ?? {}) as MangoQuery
    let rows = [...this.table(table).values()].filter(row => matches(row, mango.selector))
    for (const part of [...(mango.sort ?? [])].reverse()) {
      for (const [field, direction] of Object.entries(part)) {
        rows = rows.sort((a, b) => compare(valueAt(a, field), valueAt(b, field)) * (direction === 'desc' ? -1 : 1))
      }
    }
    const skip = mango.skip ?? 0
    rows = rows.slice(skip, mango.limit === undefined ? undefined : skip + mango.limit)
    return rows.map(row => structuredClone(row) as unknown as T)
  }

  async insert<T extends Model> (table: string, model: T): Promise<void> {
    const row = structuredClone(model) as unknown as Row
    if (typeof row.uuid !== 'string') throw new Error(`memory store: ${table} row without uuid`)
    const rows = this.table(table)
    // Like a database's primary key: a second insert of one uuid is an error, not an overwrite.
    if (rows.has(row.uuid)) throw new Error(`memory store: duplicate uuid ${row.uuid} in ${table}`)
    rows.set(row.uuid, row)
  }

  async update<T extends Model> (table: string, model: T): Promise<void> {
    const row = structuredClone(model) as unknown as Row
    const rows = this.table(table)
    if (!rows.has(row.uuid)) throw new Error(`memory store: no row ${row.uuid} in ${table} to update`)
    rows.set(row.uuid, row)
  }

  async delete (table: string, uuid: string): Promise<void> {
    this.table(table).delete(uuid)
  }
}
