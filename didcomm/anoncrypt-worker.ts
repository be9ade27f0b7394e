/** A thread of didcomm/anoncrypt-pool.ts: decrypts batches of anoncrypt jobs with the keys the pool hands it once each. */
import type { KeyObject } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { openAnoncrypt } from './anoncrypt.ts'
import type { AnoncryptJob } from './anoncrypt.ts'

/** One job; `key` comes with the first job for its kid on this thread. */
export interface JobRequest { id: number, job: AnoncryptJob, key?: KeyObject }
export type JobResult = { id: number, plaintext: string } | { id: number, error: string }
/** What a thread posts once, when it is ready for jobs. */
export const READY = 'ready'

const keys = new Map<string, KeyObject>()

function run ({ id, job, key }: JobRequest): JobResult {
  if (key !== undefined) keys.set(job.kid, key)
  const privateKey = keys.get(job.kid)
  if (privateKey === undefined) return { id, error: `no key for ${job.kid} on this thread` }
  try {
    return { id, plaintext: openAnoncrypt(job, privateKey) }
  } catch (err) {
    return { id, error: err instanceof Error ? err.message : String(err) }
  }
}

parentPort?.on('message', (batch: JobRequest[]) => {
  parentPort?.postMessage(batch.map(run))
})
// Loaded: the pool sends jobs from now on (until then it decrypts them on its own thread).
parentPort?.postMessage(READY)
