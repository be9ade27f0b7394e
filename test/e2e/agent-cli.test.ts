import assert from 'node:assert/strict'
import { once } from 'node:events'
import { stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { mediationInvitation } from '../../protocols/out-of-band/messages.ts'
import { exitOf, field, killAll, launch, launchStart, run } from '../helpers/cli.ts'
import type { Running } from '../helpers/cli.ts'
import { tempDir, waitFor } from '../helpers/node.ts'
import { startPushGateway, startWebPushService } from '../helpers/push.ts'
import type { PushGateway, WebPushService } from '../helpers/push.ts'

/** Runs an agent subcommand that must succeed. */
async function agent (args: string[]): Promise<string> {
  const result = await run(['agent', ...args])
  assert.equal(result.code, 0, `agent ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout
}

/** A port nothing listens on: bound, then released. */
async function closedPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

const SUBCOMMANDS = ['init', 'invite', 'accept', 'contacts', 'send', 'inbox', 'listen']

describe('didcomm-mesh agent CLI', () => {
  let nodeDir: Awaited<ReturnType<typeof tempDir>>
  let agentsDir: Awaited<ReturnType<typeof tempDir>>
  let node: Running
  let nodeDid: string
  let nodeInvitation: string
  let business: string
  let customer: string

  before(async () => {
    nodeDir = await tempDir()
    agentsDir = await tempDir()
    business = join(agentsDir.path, 'business')
    customer = join(agentsDir.path, 'customer')
    node = await launchStart(['--data-dir', nodeDir.path, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn'])
    nodeInvitation = field(node.stdout(), 'invitation') as string
    nodeDid = field(node.stdout(), 'mediator DID') as string
  })

  after(async () => {
    killAll()
    await nodeDir.remove()
    await agentsDir.remove()
  })

  it('agent --help lists the subcommands, and each has --help', async () => {
    const { code, stdout } = await run(['agent', '--help'])
    assert.equal(code, 0)
    for (const sub of SUBCOMMANDS) assert.match(stdout, new RegExp(`^\\s+${sub}\\b`, 'm'), `${sub} in agent --help`)
    const helps = await Promise.all(SUBCOMMANDS.map(async sub => await run(['agent', sub, '--help'])))
    for (const [i, help] of helps.entries()) {
      assert.equal(help.code, 0, SUBCOMMANDS[i])
      assert.match(help.stdout, /--dir <path>/)
      assert.match(help.stdout, /--json/)
    }
  })

  it('init: the business by invitation URL (JSON), the customer by DID with mediation 2.0', async () => {
    const made = JSON.parse(await agent(['init', '--dir', business, '--node', nodeInvitation, '--json'])) as { did: string, node: { did: string, mediation: string, pickup: string } }
    assert.match(made.did, /^did:peer:2\./)
    assert.equal(made.node.did, nodeDid)
    assert.equal(made.node.mediation, '3.0')
    assert.equal(made.node.pickup, '4.0')
    assert.equal((await stat(join(business, 'agent.json'))).mode & 0o777, 0o600)

    const text = await agent(['init', '--dir', customer, '--node', nodeDid, '--mediation', '2.0'])
    assert.match(text, /agent ready in .*customer, mediated by did:peer:2\./)
  })

  it('invite --json, accept, and the business inbox shows the new contact', async () => {
    const invitation = JSON.parse(await agent(['invite', '--dir', business, '--label', 'Acme', '--json'])) as { url: string, invitation: { id: string, body: { label?: string } } }
    assert.match(invitation.url, /\?_oob=/)
    assert.equal(invitation.invitation.body.label, 'Acme')

    assert.equal((await agent(['accept', invitation.url, '--dir', customer, '--label', 'Alice'])).trim(), 'new contact: Acme')

    const inbox = await waitFor(async () => {
      const out = await agent(['inbox', '--dir', business])
      return out.includes('(no messages)') ? undefined : out
    }, 30_000, 'the acceptance in the business inbox')
    assert.match(inbox, /new contact: Alice \(accepted your invitation\)/)
  })

  it('contacts --json on both sides, and as text', async () => {
    const mine = JSON.parse(await agent(['contacts', '--dir', business, '--json'])) as Array<{ name: string, myDid: string, theirDid: string }>
    const theirs = JSON.parse(await agent(['contacts', '--dir', customer, '--json'])) as Array<{ name: string, myDid: string, theirDid: string }>
    assert.deepEqual(mine.map(c => c.name), ['Alice'])
    assert.deepEqual(theirs.map(c => c.name), ['Acme'])
    assert.equal(mine[0]?.myDid, theirs[0]?.theirDid)
    assert.equal(mine[0]?.theirDid, theirs[0]?.myDid)
    assert.equal((await agent(['contacts', '--dir', business])).trim(), 'Alice')
  })

  it('send, then the customer inbox --json has the text', async () => {
    const sent = await agent(['send', 'Alice', 'hello from Acme', '--dir', business])
    const id = /^sent \((.+)\)$/m.exec(sent)?.[1]
    assert.ok(id !== undefined, sent)

    const messages = await waitFor(async () => {
      const list = JSON.parse(await agent(['inbox', '--dir', customer, '--json'])) as Array<{ id: string, type: string, contact?: string, body: { content?: string } }>
      return list.length > 0 ? list : undefined
    }, 30_000, 'the message in the customer inbox')
    assert.equal(messages.length, 1)
    assert.equal(messages[0]?.id, id)
    assert.equal(messages[0]?.contact, 'Acme')
    assert.equal(messages[0]?.body.content, 'hello from Acme')
    assert.match(messages[0]?.type ?? '', /basicmessage\/2\.0\/message$/)

    // Picked up once: the inbox is empty now.
    assert.equal((await agent(['inbox', '--dir', customer])).trim(), '(no messages)')
  })

  it('listen --json in the background prints one JSON line per message sent afterwards', async () => {
    const listener = launch(['agent', 'listen', '--dir', customer, '--json'])
    try {
      await waitFor(() => listener.stderr().includes('listening') ? true : undefined, 30_000, `the listener to start (stderr: ${listener.stderr()})`)
      await agent(['send', 'Alice', 'live one', '--dir', business])
      await agent(['send', 'Alice', 'live two', '--dir', business, '--json'])
      const lines = await waitFor(() => {
        const all = listener.stdout().split('\n').filter(l => l.trim() !== '')
        return all.length >= 2 ? all : undefined
      }, 30_000, `two lines from the listener (stdout: ${listener.stdout()}, stderr: ${listener.stderr()})`)
      const messages = lines.map(line => JSON.parse(line) as { contact?: string, body: { content?: string } })
      assert.deepEqual(messages.map(m => m.body.content), ['live one', 'live two'])
      assert.ok(messages.every(m => m.contact === 'Acme'))

      listener.child.kill('SIGTERM')
      assert.equal(await exitOf(listener.child), 0, listener.stderr())
    } finally {
      listener.child.kill('SIGKILL')
    }
    // Acknowledged live: nothing waits.
    assert.equal((await agent(['inbox', '--dir', customer])).trim(), '(no messages)')
  })

  it('send to an unknown contact exits non-zero with "no contact named"', async () => {
    const { code, stderr } = await run(['agent', 'send', 'nobody', 'x', '--dir', business])
    assert.notEqual(code, 0)
    assert.match(stderr, /no contact named 'nobody'/)
  })

  it('init against a valid invitation for a dead port exits non-zero with a clear message', async () => {
    const keyAgreement = generateOkpKey('X25519')
    const authentication = generateOkpKey('Ed25519')
    const deadDid = peerDid2For(keyAgreement, authentication, [{ uri: 'http://127.0.0.1:1', accept: ['didcomm/v2'] }, { uri: 'ws://127.0.0.1:1/ws', accept: ['didcomm/v2'] }])
    const url = mediationInvitation(deadDid, 'http://127.0.0.1:1').url
    assert.match(url, /^http:\/\/127\.0\.0\.1:1\/\?_oob=/)
    const { code, stdout, stderr } = await run(['agent', 'init', '--dir', join(agentsDir.path, 'dead'), '--node', url])
    assert.notEqual(code, 0)
    assert.equal(stdout, '')
    // fetch refuses port 1 outright ("bad port"); either way the message names the endpoint and why.
    assert.match(stderr, /^didcomm-mesh: cannot reach http:\/\/127\.0\.0\.1:1: \S/)

    // A closed ordinary port: connection refused.
    const port = await closedPort()
    const closed = mediationInvitation(peerDid2For(keyAgreement, authentication, [{ uri: `http://127.0.0.1:${port}`, accept: ['didcomm/v2'] }]), `http://127.0.0.1:${port}`).url
    const refused = await run(['agent', 'init', '--dir', join(agentsDir.path, 'dead'), '--node', closed])
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, new RegExp(`^didcomm-mesh: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
  })

  it('usage errors: init without --node, a bad --mediation, accept of a non-URL', async () => {
    const missing = await run(['agent', 'init', '--dir', join(agentsDir.path, 'usage')])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /--node/)
    const badVersion = await run(['agent', 'init', '--dir', join(agentsDir.path, 'usage'), '--node', nodeDid, '--mediation', '4.0'])
    assert.notEqual(badVersion.code, 0)
    assert.match(badVersion.stderr, /--mediation must be 3\.0 or 2\.0/)
    const notUrl = await run(['agent', 'accept', 'not-a-url', '--dir', customer])
    assert.notEqual(notUrl.code, 0)
    assert.match(notUrl.stderr, /not a URL/)
  })

  it('a wallet on a second node, with no mix between the two: accept exits non-zero saying why and keeps no contact; --mix-hops 0 goes', async () => {
    const otherDir = await tempDir()
    try {
      const other = await launchStart(['--data-dir', otherDir.path, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn', '--bootstrap', field(node.stdout(), 'libp2p') as string])
      const far = join(agentsDir.path, 'far')
      await agent(['init', '--dir', far, '--node', field(other.stdout(), 'mediator DID') as string])
      const url = (await agent(['invite', '--label', 'Acme', '--dir', business])).trim()
      const refused = await run(['agent', 'accept', url, '--dir', far])
      assert.notEqual(refused.code, 0)
      assert.match(refused.stderr, /not sent: 2 mix hops wanted, but the home node offers 0 usable mix nodes/)
      assert.equal((await agent(['contacts', '--dir', far])).trim(), '(no contacts)')
      assert.equal((await agent(['accept', url, '--dir', far, '--mix-hops', '0'])).trim(), 'new contact: Acme')
    } finally {
      await otherDir.remove()
    }
  })
})

describe('didcomm-mesh agent push', () => {
  let nodeDir: Awaited<ReturnType<typeof tempDir>>
  let agentDir: Awaited<ReturnType<typeof tempDir>>
  let service: WebPushService
  let gateway: PushGateway

  before(async () => {
    nodeDir = await tempDir()
    agentDir = await tempDir()
    service = await startWebPushService()
    gateway = await startPushGateway()
    const node = await launchStart(['--data-dir', nodeDir.path, '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn',
      '--push-hosts', '127.0.0.1', '--push-private-destinations', '--push-gateway-url', gateway.url])
    await agent(['init', '--dir', agentDir.path, '--node', field(node.stdout(), 'invitation') as string])
  })

  after(async () => {
    killAll()
    await service.close()
    await gateway.close()
    await nodeDir.remove()
    await agentDir.remove()
  })

  it('set (Web Push from a file, FCM with a platform), show, remove', async () => {
    const sub = service.subscribe()
    const file = join(agentDir.path, 'subscription.json')
    await writeFile(file, JSON.stringify(sub.subscription))
    const afterWebPush = JSON.parse(await agent(['push', 'set', '--webpush', `@${file}`, '--dir', agentDir.path, '--json'])) as { devices: Array<{ kind: string }>, vapidPublicKey: string }
    assert.deepEqual(afterWebPush.devices.map(d => d.kind), ['webpush'])
    assert.match(afterWebPush.vapidPublicKey, /^[\w-]{87}$/)
    const shown = await agent(['push', 'set', '--fcm', 'cli-token', '--platform', 'android', '--dir', agentDir.path])
    assert.match(shown, /^fcm {2}[\w-]{22} {2}cli-token \(android\)$/m)
    assert.match(shown, new RegExp(`^webpush {2}[\\w-]{22} {2}${sub.subscription.endpoint.replaceAll('.', '\\.')}$`, 'm'))
    assert.match(await agent(['push', 'show', '--dir', agentDir.path]), /^offered: webpush, fcm, apns$/m)
    assert.match(await agent(['push', 'remove', '--kind', 'webpush', '--dir', agentDir.path]), /^fcm .*cli-token/m)
    assert.match(await agent(['push', 'remove', '--dir', agentDir.path]), /^\(no push devices\)$/m)
  })

  it('errors: no device or two named, a bad --kind, an endpoint the node refuses', async () => {
    const none = await run(['agent', 'push', 'set', '--dir', agentDir.path])
    assert.notEqual(none.code, 0)
    assert.match(none.stderr, /name one device/)
    const two = await run(['agent', 'push', 'set', '--fcm', 'a', '--apns', 'b', '--dir', agentDir.path])
    assert.match(two.stderr, /name one device/)
    const kind = await run(['agent', 'push', 'remove', '--kind', 'sms', '--dir', agentDir.path])
    assert.match(kind.stderr, /--kind must be webpush, fcm or apns/)
    const refused = await run(['agent', 'push', 'set', '--webpush', JSON.stringify({ ...service.subscribe().subscription, endpoint: 'https://push.example.org/x' }), '--dir', agentDir.path])
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /does not send Web Push to that endpoint/)
  })
})
