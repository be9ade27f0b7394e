/**
 * Anoncrypt unwraps on worker threads, so the main thread (HTTP, the store, everything else) gets
 * the other cores' help with the one costly step of every forward: X25519, key unwrap and content
 * decryption (~0.3 ms of a forward's ~0.7 ms). The checks stay on the main thread
 * (didcomm/anoncrypt.ts: anoncryptJob); only the decryption moves. Jobs posted in one turn of the
 * event loop go to each thread as one message, so the hand-off costs a few µs a job, not a
 * postMessage round trip each. Threads start at the first job, so an idle node pays nothing
 * (~25 MiB each once started); jobs are decrypted on the calling thread until a thread has loaded,
 * so the first forwards do not wait the ~100 ms that takes.
 */
import type { KeyObject } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { openAnoncrypt } from './anoncrypt.ts'
import type { AnoncryptJob } from './anoncrypt.ts'
import { UnwrapError } from './jose.ts'

/** A job lost with its thread (it died, or the pool closed): no fault of the message, so not a decryption error. */
export class AnoncryptThreadError extends Error {
  override name = 'AnoncryptThreadError'
}

/** One job for a thread; `key` comes with the first job for its kid on that thread. */
export interface JobRequest { id: number, job: AnoncryptJob, key?: KeyObject }
export type JobResult = { id: number, plaintext: string } | { id: number, error: string }
/** What a thread posts once, when it has loaded and takes jobs. */
export const READY = 'ready'

export interface AnoncryptPool {
  /** The job's plaintext; throws UnwrapError when it does not decrypt. */
  open(job: AnoncryptJob, privateKey: KeyObject): Promise<string>
  /** Starts every thread now and resolves once all have loaded (until then, jobs are decrypted on the calling thread). */
  warm(): Promise<void>
  /** Stops the threads; jobs still out fail with AnoncryptThreadError, later ones are decrypted on the calling thread. */
  close(): Promise<void>
  /** The V8 heaps of the running threads, in bytes: each thread is an isolate the main one's heap figures leave out. */
  heap(): Promise<{ used: number, total: number }>
}

interface Thread {
  worker: Worker
  pending: Map<number, PromiseWithResolvers<string>>
  /** Key ids whose key this thread has been given. */
  kids: Set<string>
  batch: JobRequest[]
  /** Whether it has loaded and said so (READY); `load` resolves then. */
  loaded: boolean
  load: PromiseWithResolvers<void>
}

// Sources run as .ts (Node strips types), the build as .js.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './anoncrypt-worker.ts' : './anoncrypt-worker.js', import.meta.url)

export function createAnoncryptPool (size: number): AnoncryptPool {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`an anoncrypt pool needs at least one thread, not ${size}`)
  const threads: Array<Thread | undefined> = Array.from({ length: size }, () => undefined)
  let next = 0
  let nextId = 0
  let flushing = false
  // Once closed, or once a thread died before it loaded (it would again: a broken install), jobs stay on the calling thread.
  let inThreadOnly = false

  function failAll (thread: Thread, err: AnoncryptThreadError): void {
    for (const waiting of thread.pending.values()) waiting.reject(err)
    thread.pending.clear()
  }

  function start (slot: number): Thread {
    const thread: Thread = { worker: new Worker(WORKER_URL), pending: new Map(), kids: new Set(), batch: [], loaded: false, load: Promise.withResolvers() }
    thread.worker.on('message', (results: JobResult[] | typeof READY) => {
      // An idle thread must not keep a process alive; one loading or with jobs out does (ref'd in open).
      if (results === READY) {
        thread.loaded = true
        thread.load.resolve()
        thread.worker.unref()
        return
      }
      for (const result of results) {
        const waiting = thread.pending.get(result.id)
        thread.pending.delete(result.id)
        if ('error' in result) waiting?.reject(new UnwrapError(result.error))
        else waiting?.resolve(result.plaintext)
      }
      if (thread.pending.size === 0) thread.worker.unref()
    })
    // A thread that dies fails its jobs (internal errors, answered as such) and is started again at the next job.
    const lost = (why: string): void => {
      if (threads[slot] === thread) threads[slot] = undefined
      if (!thread.loaded) inThreadOnly = true
      failAll(thread, new AnoncryptThreadError(why))
      thread.load.reject(new AnoncryptThreadError(why))
    }
    // Nobody may be waiting for it.
    thread.load.promise.catch(() => {})
    thread.worker.on('error', err => { lost(`anoncrypt thread failed: ${err.message}`) })
    thread.worker.on('exit', code => { lost(`anoncrypt thread exited (${code})`) })
    threads[slot] = thread
    return thread
  }

  function flush (): void {
    flushing = false
    for (const thread of threads) {
      if (thread === undefined || thread.batch.length === 0) continue
      thread.worker.postMessage(thread.batch)
      thread.batch = []
    }
  }

  return {
    async open (job, privateKey) {
      if (inThreadOnly) return openAnoncrypt(job, privateKey)
      const slot = next
      next = (next + 1) % size
      const thread = threads[slot] ?? start(slot)
      if (!thread.loaded) return openAnoncrypt(job, privateKey)
      const id = nextId++
      const reply = Promise.withResolvers<string>()
      if (thread.pending.size === 0) thread.worker.ref()
      thread.pending.set(id, reply)
      const request: JobRequest = thread.kids.has(job.kid) ? { id, job } : { id, job, key: privateKey }
      thread.kids.add(job.kid)
      thread.batch.push(request)
      // After this poll phase: the requests read from every socket in it go in one message.
      if (!flushing) {
        flushing = true
        setImmediate(flush)
      }
      return await reply.promise
    },
    async warm () {
      if (inThreadOnly) return
      await Promise.all(threads.map(async (thread, slot) => { await (thread ?? start(slot)).load.promise }))
    },
    async heap () {
      const stats = await Promise.all(threads.filter(thread => thread?.loaded === true).map(async thread => await (thread as Thread).worker.getHeapStatistics().catch(() => undefined)))
      return stats.reduce((sum, heap) => ({ used: sum.used + (heap?.used_heap_size ?? 0), total: sum.total + (heap?.total_heap_size ?? 0) }), { used: 0, total: 0 })
    },
    async close () {
      inThreadOnly = true
      const running = threads.filter(thread => thread !== undefined)
      threads.fill(undefined)
      await Promise.all(running.map(async thread => {
        failAll(thread, new AnoncryptThreadError('anoncrypt pool closed'))
        await thread.worker.terminate()
      }))
    }
  }
}
