import { isStatementError, isTransient } from './database.ts'
import type { Database, Queryable } from './database.ts'

/**
 * One operation in a group transaction. SQL only, with no effect outside the database: a group
 * that fails may run it again. It reports expected outcomes (duplicate, full, taken) in its result
 * rather than by throwing, since a failed statement aborts the whole transaction.
 */
export type Work<T> = (tx: Queryable) => Promise<T>

/**
 * Operations of one kind that a group runs together, in one statement: `inputs` come in the group's
 * lock order, and it returns one result for each, in that order. Held to the same rules as Work.
 */
export type Batch<I, O> = (tx: Queryable, inputs: I[]) => Promise<O[]>

interface Pending {
  /** The operation alone (a batch of one, for a batchable one). */
  work: Work<unknown>
  /** A batchable operation's batch and input: neighbours in a group's lock order that share the batch go as one. */
  batched?: { batch: Batch<unknown, unknown>, input: unknown }
  /** What it locks first (a mailbox, a name), for ordering a group; '' for nothing in particular. */
  lockKey: string
  done: PromiseWithResolvers<unknown>
}

/** What a group sends as one: an operation alone, or a run of neighbours in one batch. */
interface Step {
  entries: Pending[]
  work: Work<unknown[]>
}

/** The group's steps, in its order: each run of neighbours sharing a batch becomes one step. */
function stepsOf (group: Pending[]): Step[] {
  const steps: Step[] = []
  for (const entry of group) {
    const last = steps.at(-1)
    const batch = entry.batched?.batch
    if (batch !== undefined && last?.entries[0]?.batched?.batch === batch) {
      last.entries.push(entry)
      continue
    }
    // Neighbours that join later land in `entries` before the step runs.
    const entries = [entry]
    steps.push({
      entries,
      work: batch === undefined
        ? async tx => [await entry.work(tx)]
        : async tx => {
          const results = await batch(tx, entries.map(each => each.batched?.input))
          if (results.length !== entries.length) throw new Error(`a batch of ${entries.length} returned ${results.length} results`)
          return results
        }
    })
  }
  return steps
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
    return await this.enqueue({ work, lockKey })
  }

  /** Like run, but the group sends this with its neighbours (in lock order) of the same batch as one statement. */
  async runBatched<I, O> (batch: Batch<I, O>, input: I, lockKey: string): Promise<O> {
    const work: Work<O> = async tx => {
      const [result] = await batch(tx, [input])
      return result as O
    }
    return await this.enqueue({ work, batched: { batch: batch as Batch<unknown, unknown>, input }, lockKey })
  }

  private async enqueue<T> (operation: Omit<Pending, 'done'>): Promise<T> {
    const done = Promise.withResolvers<unknown>()
    this.pending.push({ ...operation, done })
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
        const settled = await Promise.allSettled(stepsOf(group).map(async step => {
          const keys = [...new Set(step.entries.map(entry => entry.lockKey))]
          const before = keys.flatMap(key => tails.get(key) ?? [])
          const run = (before.length === 0 ? Promise.resolve() : Promise.all(before)).then(async () => {
            // Once one has failed the transaction is lost: send nothing more on it.
            if (failed) throw new Error('group abandoned')
            return await step.work(tx)
          })
          for (const key of keys) tails.set(key, run.catch(() => {}))
          return await run.catch((err: unknown) => {
            failed = true
            throw err
          })
        }))
        // Every statement has answered before the transaction ends, so none runs on the connection after.
        const failure = settled.find(outcome => outcome.status === 'rejected')
        if (failure !== undefined) throw failure.reason
        return settled.flatMap(outcome => (outcome as PromiseFulfilledResult<unknown[]>).value)
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
