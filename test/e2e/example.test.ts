import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { it } from 'node:test'

const EXAMPLE = fileURLToPath(new URL('../../example/run.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// What `npm run example` runs: six nodes, a business and a customer, and the who-saw-what checks.
it('the example runs to the end: three messages through mix nodes, a live reply, no node saw both pairwise DIDs nor both nodes', async () => {
  const child = spawn(process.execPath, [EXAMPLE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  try {
    const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(110_000) }) as [number | null]
    assert.equal(code, 0, `stdout:\n${out}\nstderr:\n${err}`)
  } finally {
    child.kill('SIGKILL')
  }
  for (const text of ['Your statement for May is ready', 'A new device signed in to your account', 'Your card ships tomorrow']) {
    assert.match(out, new RegExp(`\\[business\\] sends #\\d "${text}"`))
    assert.match(out, new RegExp(`\\[customer\\] received #\\d from "Acme Bank": "${text}"`))
  }
  assert.match(out, /\[business\] sends #2 .* through 3 mix nodes/)
  // Every path goes from one home node to the other through distinct mix nodes (3 to 6).
  const paths = [...out.matchAll(/\[path\] (.*)/g)].map(m => (m[1] as string).split(' → '))
  assert.deepEqual(paths.map(p => [p[0], p.at(-1), p.length]), [['node 2', 'node 1', 4], ['node 1', 'node 2', 4], ['node 1', 'node 2', 5], ['node 1', 'node 2', 4], ['node 2', 'node 1', 4]])
  for (const path of paths) {
    const mixes = path.slice(1, -1)
    assert.equal(new Set(mixes).size, mixes.length)
    assert.ok(mixes.every(m => /^node [3-6]$/.test(m)), path.join(' → '))
  }
  assert.match(out, /OK: node 1 and node 2 never exchanged a message, and no mix saw both ends of one/)
  assert.match(out, /\[customer\] replies "Thanks!/)
  assert.match(out, /\[business\] received live from "Alice": "Thanks!/)
  assert.match(out, /who saw what/)
  for (const mix of [3, 4, 5, 6]) assert.match(out, new RegExp(`node ${mix}: neither`))
  assert.match(out, /OK: no node saw both pairwise DIDs/)
})
