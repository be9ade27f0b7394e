import { isStatementError, isTransient } from './database.ts'
import type { Database, Queryable } from './database.ts'

/**
 * One operation in a group transaction. SQL only, with no effect outside the database: a group
 * that fails may run it again. It reports expected outcomes (duplicate, full, taken) in its result
 * rather than by throwing, since a failed statement aborts the whole transaction.
 */
export type Work<T> = (tx: Queryable) => Promise<T>

interface Pending {
  work: Work<unknown>
  /** What it locks first (a mailbox, a name), for ordering a group; '' for nothing in particular. */
  lockKey: string
  done: PromiseWithResolvers<unknown>
}

/** How often a group chosen as a deadlock victim runs again before its victim operation fails alone. */
const TRANSIENT_RETRIES = 3

/**
 * Group commit: every caller gets its own promise, resolved only once its transaction has committed
 * (synchronous_commit on: flushed to the WAL), but the operations that arrive while one transaction
 * is on its way go out together in the next one, so durability costs one WAL flush per group rather
 * than one per operation.
 */
export class GroupCommit {
  private readonly db: Database
  private pending: Pending[] = []
  private flushing: Promise<void> | undefined

  constructor (db: Database) {
    this.db = db
  }

  async run<T> (work: Work<T>, lockKey = ''): Promise<T> {
    const done = Promise.withResolvers<unknown>()
    this.pending.push({ work, lockKey, done })
    this.flushing ??= this.flush()
    return await done.promise as T
  }

  /** Resolves once everything handed in so far has committed or failed. */
  async idle (): Promise<void> {
    await this.flushing
  }

  private async flush (): Promise<void> {
    while (this.pending.length > 0) {
      // Operations that were all in flight at once may commit in any order. Sorted by what they lock,
      // two processes' groups take their locks in one order, and cannot deadlock over them.
      const group = this.pending.sort((a, b) => a.lockKey < b.lockKey ? -1 : a.lockKey > b.lockKey ? 1 : 0)
      this.pending = []
      await this.commit(group)
    }
    this.flushing = undefined
  }

  /**
   * Commits the group with its statements pipelined: sent together on the transaction's connection,
   * so a group costs a few round trips and one WAL flush, not a round trip per operation. Should a statement fail (they are written not to), the group runs again one operation
   * at a time, to fail only the one at fault.
   */
  private async commit (group: Pending[]): Promise<void> {
    let results: unknown[]
    try {
      results = await this.db.transaction(async tx => {
        // Operations on one lock key (one mailbox, one client) still run one after another: some
        // read, decide and write (a client's recipient cap), and must not interleave.
        const tails = new Map<string, Promise<unknown>>()
        let failed = false
        const settled = await Promise.allSettled(group.map(async entry => {
          const run = (tails.get(entry.lockKey) ?? Promise.resolve()).then(async () => {
            // Once one has failed the transaction is lost: send nothing more on it.
            if (failed) throw new Error('group abandoned')
            return await entry.work(tx)
          })
          tails.set(entry.lockKey, run.catch(() => {}))
          return await run.catch((err: unknown) => {
            failed = true
            throw err
          })
        }))
        // Every statement has answered before the transaction ends, so none runs on the connection after.
        const failure = settled.find(outcome => outcome.status === 'rejected')
        if (failure !== undefined) throw failure.reason
        return settled.map(outcome => (outcome as PromiseFulfilledResult<unknown>).value)
      })
    } catch (err) {
      if (isStatementError(err) || isTransient(err)) {
        await this.commitOneByOne(group)
        return
      }
      // The connection or the commit failed: no operation is to blame, none committed.
      for (const entry of group) entry.done.reject(err)
      return
    }
    for (const [i, entry] of group.entries()) entry.done.resolve(results[i])
  }

  /** Commits the group running one operation after another: one whose statement fails is failed alone and the others run again without it. */
  private async commitOneByOne (group: Pending[]): Promise<void> {
    let transientFailures = 0
    while (group.length > 0) {
      let running = -1
      try {
        const results = await this.db.transaction(async tx => {
          const results: unknown[] = []
          for (const [i, entry] of group.entries()) {
            running = i
            results.push(await entry.work(tx))
          }
          running = -1
          return results
        })
        for (const [i, entry] of group.entries()) entry.done.resolve(results[i])
        return
      } catch (err) {
        if (isTransient(err) && ++transientFailures <= TRANSIENT_RETRIES) continue
        if (running < 0 || !isStatementError(err)) {
          // The connection or the commit failed: no operation is to blame, none committed.
          for (const entry of group) entry.done.reject(err)
          return
        }
        group[running]?.done.reject(err)
        group = group.filter((_, i) => i !== running)
      }
    }
  }
}
