import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { exitOf, field, killAll, launchStart, run } from '../helpers/cli.ts'
import { tempDir } from '../helpers/node.ts'

describe('didcomm-mesh CLI', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let peerId: string | undefined

  before(async () => {
    dir = await tempDir()
  })
  after(async () => {
    // A failed test may leave a node running: kill it.
    killAll()
    await dir.remove()
  })

  // Proves `start` runs a reachable node, prints its identity and endpoints, serves health/info/oob, and stops cleanly on SIGTERM.
  it('start prints the banner, serves /health /info /oob and exits 0 on SIGTERM', async () => {
    const node = await launchStart(['--data-dir', dir.path, '--http-port', '0', '--p2p-port', '0'])
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
