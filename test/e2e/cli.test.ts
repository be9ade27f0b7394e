import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { tempDir, waitFor } from '../helpers/node.ts'

const CLI = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The environment without DIDCOMM_MESH_* variables, so only the flags configure the child. */
function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DIDCOMM_MESH_')))
}

interface Running { child: ChildProcess, stdout: () => string, stderr: () => string }

const children = new Set<ChildProcess>()

/** Starts the CLI (under the Node running the tests: process.execPath), collecting its output. */
function launch (args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  return { child, stdout: () => out, stderr: () => err }
}

/** Waits for the child to exit (failing after `timeout` ms) and returns its exit code. */
async function exitOf (child: ChildProcess, timeout = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(timeout) }) as [number | null]
  return code
}

/** Runs the CLI to completion. */
async function run (args: string[], timeout = 30_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const running = launch(args)
  const code = await exitOf(running.child, timeout)
  return { code, stdout: running.stdout(), stderr: running.stderr() }
}

/** The value printed after `label` on its own line of `start`'s banner. */
function field (stdout: string, label: string): string | undefined {
  const line = stdout.split('\n').find(l => l.startsWith(label + ' '))
  return line?.slice(label.length).trim()
}

describe('didcomm-mesh CLI', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let peerId: string | undefined

  before(async () => {
    dir = await tempDir()
  })
  after(async () => {
    // A failed test may leave a node running: kill it.
    for (const child of children) child.kill('SIGKILL')
    await dir.remove()
  })

  // Proves `start` runs a reachable node, prints its identity and endpoints, serves health/info/oob, and stops cleanly on SIGTERM.
  it('start prints the banner, serves /health /info /oob and exits 0 on SIGTERM', async () => {
    const node = launch(['start', '--data-dir', dir.path, '--http-port', '0', '--p2p-port', '0'])
    await waitFor(() => field(node.stdout(), 'invitation') !== undefined ? true : undefined, 30_000, `the start banner (stderr: ${node.stderr()})`)
    const out = node.stdout()
    peerId = field(out, 'peer ID')
    const did = field(out, 'mediator DID')
    const http = field(out, 'HTTP')
    assert.match(peerId ?? '', /^12D3KooW/)
    assert.match(did ?? '', /^did:peer:2\./)
    assert.match(http ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.match(field(out, 'invitation') ?? '', /\?_oob=/)
    const base = http as string
    assert.notEqual(new URL(base).port, '0', 'the bound port, not the configured 0')

    const health = await fetch(`${base}/health`)
    assert.equal(health.status, 200)
    assert.deepEqual(await health.json(), { status: 'ok' })

    const info = await (await fetch(`${base}/info`)).json() as Record<string, unknown>
    assert.equal(info.did, did)
    assert.equal(info.peerId, peerId)
    assert.ok(Array.isArray(info.multiaddrs) && info.multiaddrs.length > 0, 'multiaddrs')
    assert.equal((info.endpoints as { http: string }).http, base)
    assert.equal(typeof info.version, 'string')

    const oob = await (await fetch(`${base}/oob`)).json() as { invitation: { from: string, body: { goal_code: string } }, url: string }
    assert.equal(oob.invitation.body.goal_code, 'request-mediate')
    assert.equal(oob.invitation.from, did)
    assert.ok(oob.url.startsWith(`${base}/?_oob=`), oob.url)

    node.child.kill('SIGTERM')
    assert.equal(await exitOf(node.child, 10_000), 0, `stderr: ${node.stderr()}`)
  })

  // Proves `id` reads the identity `start` created in the same data dir, without starting a node.
  it('id --json prints the same peer ID', async () => {
    assert.ok(peerId !== undefined, 'the start test ran first')
    const { code, stdout, stderr } = await run(['id', '--json', '--data-dir', dir.path])
    assert.equal(code, 0, stderr)
    const id = JSON.parse(stdout) as { peerId: string, did: string }
    assert.equal(id.peerId, peerId)
    assert.match(id.did, /^did:peer:2\./)
  })

  // Proves a bad flag value is a usage error (exit 2) that names the flag.
  it('--http-port abc exits 2 naming the flag', async () => {
    const { code, stderr } = await run(['start', '--data-dir', dir.path, '--http-port', 'abc'])
    assert.equal(code, 2)
    assert.match(stderr, /--http-port/)
  })

  // Proves help is available and documents the data directory.
  it('start --help exits 0 and mentions --data-dir', async () => {
    const { code, stdout } = await run(['start', '--help'])
    assert.equal(code, 0)
    assert.match(stdout, /--data-dir/)
  })
})
