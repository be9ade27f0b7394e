/** Load generators: a closed loop (N senders, each sending its next message when answered) and an open loop (a fixed schedule). */
import { Agent, request } from 'node:http'
import { ThirdPartyAgent } from './agent.ts'
import { packedChunks } from './pack.ts'
import type { ForwardSpec } from './forwards.ts'
import { FILL_CHUNK } from './settings.ts'
import { sleep } from './stats.ts'

/**
 * Keep-alive connections for the load: node:http costs the load generator ~0.2 ms a request where
 * fetch costs ~0.8 ms (measured against an empty server), CPU the node under test would lose.
 */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 256 })

/** A request lost on an idle keep-alive socket the server closed as the request went out: never read, safe to send again. */
class StaleSocket extends Error {}

async function post (url: string, packed: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/didcomm-encrypted+json', 'content-length': Buffer.byteLength(packed) }
    const req = request(url, { method: 'POST', agent: keepAlive, headers }, res => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => { resolve({ status: res.statusCode ?? 0, text }) }).on('error', reject)
    })
    // Node's documented keep-alive race: the server's idle timeout (5 s) closes a socket just as the agent reuses it.
    req.on('error', (err: NodeJS.ErrnoException) => { reject(req.reusedSocket && err.code === 'ECONNRESET' ? new StaleSocket(err.message, { cause: err }) : err) })
    req.end(packed)
  })
}

/** POSTs one packed message (again, once, if it went out on a stale keep-alive socket); anything but 202 (accepted after a durable write) fails the run. */
export async function postAccepted (url: string, packed: string): Promise<void> {
  const { status, text } = await post(url, packed).catch(async (err: unknown) => {
    if (!(err instanceof StaleSocket)) throw err
    console.error(`${url}: ${err.message} on a reused keep-alive socket; sent again`)
    return await post(url, packed)
  })
  if (status !== 202) throw new Error(`${url} answered ${status}: ${text.slice(0, 300)}`)
}

/** Runs `task(i)` for every i in [0, count), `concurrency` at a time; the first failure stops the rest. */
export async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++
      try {
        await task(i)
      } catch (err) {
        next = count
        throw err
      }
    }
  }))
}

/** Where message i goes: one URL, or several taken in turn (replicas of one mediator, no balancer). */
export type Urls = string | readonly string[]

export function urlFor (urls: Urls, i: number): string {
  return typeof urls === 'string' ? urls : urls[i % urls.length] as string
}

/** Closed loop: `senders` concurrent senders post every message to `urls`. */
export async function sendAll (urls: Urls, messages: readonly string[], senders: number): Promise<void> {
  await pool(messages.length, senders, async i => { await postAccepted(urlFor(urls, i), messages[i] as string) })
}

/**
 * Open loop: starts `task(i)` at start + i/rate seconds whether or not earlier ones have answered, and
 * hands `record` each task's latency in ms as it ends, counted from its scheduled start (so a lagging
 * schedule counts too). Only the tasks in flight are held, so the loop may run for hours.
 */
export async function openLoopRecording (ratePerSecond: number, count: number, task: (i: number) => Promise<void>, record: (latencyMs: number) => void): Promise<void> {
  const intervalMs = 1000 / ratePerSecond
  const running = new Set<Promise<void>>()
  let failure: unknown
  const start = performance.now()
  for (let i = 0; i < count && failure === undefined; i++) {
    const due = start + i * intervalMs
    const wait = due - performance.now()
    if (wait >= 1) await sleep(wait)
    const run: Promise<void> = task(i)
      .then(() => { record(performance.now() - due) }, (err: unknown) => { failure ??= err })
      .finally(() => { running.delete(run) })
    running.add(run)
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure
}

/** The open loop (openLoopRecording), returning every task's latency in ms. */
export async function openLoop (ratePerSecond: number, count: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = []
  await openLoopRecording(ratePerSecond, count, task, latency => { latencies.push(latency) })
  return latencies
}

/** Sizes of the chunks `count` is sent in. */
function chunks (count: number): number[] {
  return Array.from({ length: Math.ceil(count / FILL_CHUNK) }, (_, i) => Math.min(FILL_CHUNK, count - i * FILL_CHUNK))
}

/**
 * Queues `count` messages for `spec.to` at the node or replicas (untimed), in chunks so memory stays bounded, the
 * next chunk packing while the current one is sent.
 */
export async function fillMailbox (urls: Urls, spec: ForwardSpec, count: number, senders: number): Promise<void> {
  for await (const chunk of packedChunks(new ThirdPartyAgent(), spec, chunks(count))) await sendAll(urls, chunk, senders)
}
