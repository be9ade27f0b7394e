/**
 * A thread of didcomm/anoncrypt-pool.ts: decrypts batches of anoncrypt jobs with the keys the pool
 * hands it once each. Only ever a worker's entry point: imported by a thread, it would take over that
 * thread's parentPort.
 */
import type { KeyObject } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { openAnoncrypt } from './anoncrypt.ts'
import { READY } from './anoncrypt-pool.ts'
import type { JobRequest, JobResult } from './anoncrypt-pool.ts'

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
