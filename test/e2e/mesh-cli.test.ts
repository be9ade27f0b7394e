import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { after, it } from 'node:test'
import { BASIC, TestAgent, post, wrapForward } from '../helpers/client.ts'
import { tempDir, waitFor } from '../helpers/node.ts'

const CLI = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface CliNode { child: ChildProcess, stdout: () => string, stderr: () => string, http: string, did: string, multiaddr: string }

const children = new Set<ChildProcess>()
const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = []
after(async () => {
  // A failed test may leave nodes running.
  for (const child of children) child.kill('SIGKILL')
  for (const dir of dirs) await dir.remove()
})

/** The value printed after `label` on each line of `start`'s banner that starts with it. */
function fields (stdout: string, label: string): string[] {
  return stdout.split('\n').filter(line => line.startsWith(label + ' ')).map(line => line.slice(label.length).trim())
}

/** `didcomm-mesh start` as its own process (the Node running the tests), on free ports, in a fresh data dir. */
async function startCli (bootstrap?: string): Promise<CliNode> {
  const dir = await tempDir()
  dirs.push(dir)
  const args = ['start', '--data-dir', dir.path, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn']
  if (bootstrap !== undefined) args.push('--bootstrap', bootstrap)
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DIDCOMM_MESH_')))
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  await waitFor(() => fields(out, 'invitation').length > 0 ? true : undefined, 30_000, `the start banner (stderr: ${err})`)
  const multiaddr = fields(out, 'libp2p').find(ma => ma.includes('/tcp/') && !ma.includes('/ws'))
  const [http] = fields(out, 'HTTP')
  const [did] = fields(out, 'mediator DID')
  assert.ok(multiaddr !== undefined && http !== undefined && did !== undefined, out)
  return { child, stdout: () => out, stderr: () => err, http, did, multiaddr }
}

async function exitOf (child: ChildProcess, timeout = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(timeout) }) as [number | null]
  return code
}

// Proves the CLI alone makes a mesh: three processes, nodes 2 and 3 bootstrapped to node 1; a business
// mediated at node 3 reaches a wallet mediated at node 1, and every node stops cleanly on SIGTERM.
it('three `didcomm-mesh start` processes relay a message from node 3 to a wallet at node 1', async () => {
  const first = await startCli()
  assert.match(first.multiaddr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
  const [second, third] = await Promise.all([startCli(first.multiaddr), startCli(first.multiaddr)]) as [CliNode, CliNode]

  const wallet = new TestAgent()
  await wallet.mediate(first.http, first.did)
  const pairwise = await wallet.pairwiseDid(first.http, first.did)
  const business = new TestAgent()
  await business.mediate(third.http, third.did)

  const msg = business.message(BASIC, { content: 'across three processes' }, pairwise)
  const forFirst = await business.pack(msg, pairwise, business.did, { forward: true, protect_sender: true })
  const answer = await post(third.http, await wrapForward(business, forFirst, first.did, third.did, business.did))
  assert.equal(answer.status, 202, answer.text)

  const received = await waitFor(async () => {
    const got = await wallet.pickup(first.http, first.did, { ack: true })
    return got.find(r => r.message.id === msg.id)
  }, 20_000, 'the message at node 1')
  assert.deepEqual(received.message.body, { content: 'across three processes' })
  const info = await (await fetch(`${third.http}/info`)).json() as { mesh: { outbox: { delivered: number, depth: number } } }
  assert.equal(info.mesh.outbox.delivered, 1)
  assert.equal(info.mesh.outbox.depth, 0)

  for (const node of [first, second, third]) node.child.kill('SIGTERM')
  for (const node of [first, second, third]) assert.equal(await exitOf(node.child), 0, `stderr: ${node.stderr()}`)
})
