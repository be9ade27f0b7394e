import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MeshAgent, NodeRefusedError } from '../../client/index.ts'
import { parseInvitationUrl } from '../../protocols/out-of-band/messages.ts'
import { BASIC, TestAgent, post, sendTo } from '../helpers/client.ts'
import { field, killAll, launchStart, run } from '../helpers/cli.ts'
import type { Running } from '../helpers/cli.ts'
import { tempDir } from '../helpers/node.ts'

describe('didcomm-mesh invite and clients, against a running node in invite mode', () => {
  let nodeDir: Awaited<ReturnType<typeof tempDir>>
  let work: Awaited<ReturnType<typeof tempDir>>
  let node: Running
  let url: string
  let admin: string[]
  let alice: string
  let aliceDid: string
  let alicePairwise: string

  /** `didcomm-mesh invite` for the running node (its data dir and bound port), as JSON. */
  const invite = async (): Promise<{ url: string, invitation: { id: string } }> => {
    const result = await run(['invite', '--json', '--data-dir', nodeDir.path, '--http-port', new URL(url).port])
    assert.equal(result.code, 0, result.stderr)
    return JSON.parse(result.stdout) as { url: string, invitation: { id: string } }
  }

  before(async () => {
    nodeDir = await tempDir()
    work = await tempDir()
    alice = join(work.path, 'alice')
    node = await launchStart(['--data-dir', nodeDir.path, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn', '--mediation', 'invite'])
    url = field(node.stdout(), 'HTTP') as string
    admin = ['--url', url, '--data-dir', nodeDir.path]
  })

  after(async () => {
    killAll()
    await nodeDir.remove()
    await work.remove()
  })

  // Proves `invite` works while the node holds its store, its token is accepted once by the agent CLI
  // (URL or JSON), and the node's public invitation (no token) is denied in invite mode.
  it('invite: the agent joins with a fresh invitation, not with a used one or the public one', async () => {
    const first = await invite()
    const joined = await run(['agent', 'init', '--dir', alice, '--node', first.url, '--json'])
    assert.equal(joined.code, 0, joined.stderr)
    aliceDid = (JSON.parse(joined.stdout) as { did: string }).did

    const reused = await run(['agent', 'init', '--dir', join(work.path, 'bob'), '--node', first.url])
    assert.notEqual(reused.code, 0)
    assert.match(reused.stderr, /denied mediation/)
    const banner = await run(['agent', 'init', '--dir', join(work.path, 'bob'), '--node', field(node.stdout(), 'invitation') as string])
    assert.notEqual(banner.code, 0)
    assert.match(banner.stderr, /denied mediation/)

    const asJson = await run(['agent', 'init', '--dir', join(work.path, 'bob'), '--node', JSON.stringify(await invite())])
    assert.equal(asJson.code, 0, asJson.stderr)
  })

  // Proves `clients list` shows each client with its grant time and recipient count, as JSON and text.
  it('clients list shows the client and its recipients', async () => {
    const made = await run(['agent', 'invite', '--dir', alice, '--json'])
    assert.equal(made.code, 0, made.stderr)
    alicePairwise = String(parseInvitationUrl((JSON.parse(made.stdout) as { url: string }).url).from)

    const listed = await run(['clients', 'list', '--json', ...admin])
    assert.equal(listed.code, 0, listed.stderr)
    const { clients } = JSON.parse(listed.stdout) as { clients: Array<{ did: string, grantedAt: string, recipients: number }> }
    assert.equal(clients.length, 2)
    const entry = clients.find(c => c.did === aliceDid)
    assert.equal(entry?.recipients, 1)
    assert.ok(Math.abs(Date.parse(entry.grantedAt) - Date.now()) < 60_000, entry.grantedAt)

    const text = await run(['clients', 'list', ...admin])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`^\\S+Z\\s+1 recipients\\s+${aliceDid.replaceAll('.', '\\.')}$`, 'm'))
  })

  // Proves revoke withdraws the grant, the recipients and the queued messages: pickup is not-enrolled,
  // forwards to the pairwise DID are refused, and a second revoke finds nothing (exit 1).
  it('clients revoke: pickup gets not-enrolled, forwards are refused', async () => {
    await sendTo({ url }, alicePairwise, 'queued before the revoke')
    const revoked = await run(['clients', 'revoke', aliceDid, ...admin])
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.equal(revoked.stdout.trim(), 'revoked: 1 recipients removed, 1 queued messages deleted')

    const agent = await MeshAgent.open(alice)
    await assert.rejects(agent.pickup(), (err: unknown) => err instanceof NodeRefusedError && err.code === 'e.p.req.not-enrolled')
    const sender = new TestAgent()
    const forward = await sender.sendVia(url, sender.message(BASIC, { content: 'after the revoke' }, alicePairwise), alicePairwise, sender.did)
    // An anonymous sender is told only that the node will not take it (it no longer tells unregistered from another mediator).
    assert.equal(forward.status, 403, forward.text)
    assert.equal(JSON.parse(forward.text).body.code, 'e.p.req.relay-not-allowed')

    const listed = JSON.parse((await run(['clients', 'list', '--json', ...admin])).stdout) as { clients: Array<{ did: string }> }
    assert.ok(!listed.clients.some(c => c.did === aliceDid))
    const again = await run(['clients', 'revoke', aliceDid, ...admin])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /no mediation for that DID/)
    assert.ok(!again.stderr.includes(aliceDid))
  })

  // Proves the admin API needs the token derived from this node's key: 401 without it or with another
  // node's, with no client DIDs in the answer; the CLI says why and exits non-zero.
  it('a missing or wrong admin token is refused', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }]) {
      const res = await fetch(`${url}/admin/clients`, { headers })
      assert.equal(res.status, 401)
      assert.doesNotMatch(await res.text(), /did:/)
    }
    const revoke = await post(`${url}/admin/clients/revoke`, JSON.stringify({ did: 'did:example:x' }), 'application/json')
    assert.equal(revoke.status, 401)

    const other = join(work.path, 'other-node')
    assert.equal((await run(['id', '--data-dir', other])).code, 0)
    const wrong = await run(['clients', 'list', '--url', url, '--data-dir', other])
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /refused the admin token \(HTTP 401\)/)
    assert.doesNotMatch(wrong.stdout + wrong.stderr, /did:peer/)

    const noKey = await run(['clients', 'list', '--url', url, '--data-dir', join(work.path, 'nothing')])
    assert.equal(noKey.code, 2)
    assert.match(noKey.stderr, /no node-key\.json/)
  })

  // Proves an unreachable node is exit 1 with a clear message.
  it('clients list against a closed port exits 1', async () => {
    const server = createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    server.close()
    await once(server, 'close')
    const result = await run(['clients', 'list', '--url', `http://127.0.0.1:${port}`, '--data-dir', nodeDir.path])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /cannot reach a node at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/)
  })
})
