/**
 * `npm run bench [-- --quick]`: real nodes on 127.0.0.1, real DIDComm messages packed by didcomm-node.
 * Prints a table and writes bench/results/latest.json. Numbers only: nothing here passes or fails.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { BASIC, PICKUP3, TestAgent, post } from '../test/helpers/client.ts'
import { startTestNode, tempDir } from '../test/helpers/node.ts'

const quick = process.argv.includes('--quick')
const MESSAGES = quick ? 200 : 2000
const CONCURRENCY = 16
const BODY_BYTES = 1024

function perSecond (count: number, ms: number): number {
  return Math.round(count / (ms / 1000))
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++)
  }))
}

async function unpackCeiling (): Promise<number> {
  const mediator = new TestAgent()
  const sender = new TestAgent()
  const packed = await sender.pack(sender.message(BASIC, { content: 'x'.repeat(BODY_BYTES) }, mediator.did), mediator.did, null)
  const runs = quick ? 200 : 2000
  const start = performance.now()
  for (let i = 0; i < runs; i++) await mediator.unpack(packed)
  return perSecond(runs, performance.now() - start)
}

async function forwardToPickup (): Promise<{ ingest: number, pickup: number }> {
  const dir = await tempDir('didcomm-mesh-bench-')
  const node = await startTestNode({ dataDir: dir.path, maxMessagesPerRecipient: 1_000_000 })
  try {
    const wallet = new TestAgent()
    await wallet.mediate(node.url, node.did)
    const pairwise = await wallet.pairwiseDid(node.url, node.did)
    const business = new TestAgent()
    const forwards = await Promise.all(Array.from({ length: MESSAGES }, async () =>
      await business.pack(business.message(BASIC, { content: 'x'.repeat(BODY_BYTES) }, pairwise), pairwise, business.did, { forward: true })))

    let start = performance.now()
    await pool(MESSAGES, CONCURRENCY, async i => {
      const answer = await post(node.url, forwards[i] as string)
      if (answer.status !== 202) throw new Error(`forward refused: ${answer.status} ${answer.text}`)
    })
    const ingest = perSecond(MESSAGES, performance.now() - start)

    start = performance.now()
    let picked = 0
    // The wallet only acknowledges here: decrypting each message is the wallet's cost, not the node's.
    for (;;) {
      const delivery = await wallet.request(node.url, node.did, `${PICKUP3}/delivery-request`, { limit: 100 })
      const ids = (delivery.attachments ?? []).map(a => a.id as string)
      if (ids.length === 0) break
      await wallet.request(node.url, node.did, `${PICKUP3}/messages-received`, { message_id_list: ids })
      picked += ids.length
    }
    if (picked !== MESSAGES) throw new Error(`picked up ${picked} of ${MESSAGES}`)
    return { ingest, pickup: perSecond(picked, performance.now() - start) }
  } finally {
    await node.stop()
    await dir.remove()
  }
}

const ceiling = await unpackCeiling()
const { ingest, pickup } = await forwardToPickup()
const results = {
  date: new Date().toISOString(),
  cores: availableParallelism(),
  node: process.version,
  quick,
  messages: MESSAGES,
  unpack_ceiling_per_s: ceiling,
  ingest_per_s: ingest,
  ingest_ratio: Number((ingest / ceiling).toFixed(3)),
  http_pickup_per_s: pickup
}
console.table(Object.entries(results).map(([figure, value]) => ({ figure, value })))
await mkdir(new URL('results/', import.meta.url), { recursive: true })
await writeFile(new URL('results/latest.json', import.meta.url), JSON.stringify(results, null, 2) + '\n')
