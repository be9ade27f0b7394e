import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { it } from 'node:test'

const EXAMPLE = fileURLToPath(new URL('../../example/run.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// What `npm run example` runs: three nodes, a business and a customer, and the who-saw-what check.
it('the example runs to the end: three messages, a live reply, no node saw both pairwise DIDs', async () => {
  const child = spawn(process.execPath, [EXAMPLE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  try {
    const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(90_000) }) as [number | null]
    assert.equal(code, 0, `stdout:\n${out}\nstderr:\n${err}`)
  } finally {
    child.kill('SIGKILL')
  }
  for (const text of ['Your statement for May is ready', 'A new device signed in to your account', 'Your card ships tomorrow']) {
    assert.match(out, new RegExp(`\\[business\\] sends #\\d "${text}"`))
    assert.match(out, new RegExp(`\\[customer\\] received #\\d from "Acme Bank": "${text}"`))
  }
  assert.match(out, /\[business\] sends #2 .* via node 3/)
  assert.match(out, /\[node 3\] relayed a forward to node 2/)
  assert.match(out, /\[customer\] replies "Thanks!/)
  assert.match(out, /\[business\] received live from "Alice": "Thanks!/)
  assert.match(out, /who saw what/)
  assert.match(out, /node 3: neither/)
  assert.match(out, /OK: no node saw both pairwise DIDs/)
})
