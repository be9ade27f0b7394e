import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { exitOf, fields, killAll, launchStart } from '../helpers/cli.ts'
import type { Running } from '../helpers/cli.ts'
import { BASIC, TestAgent } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'

interface CliNode extends Running { url: string, did: string, multiaddr: string }

/** The nodes' data dirs. */
const nodes = testNodes()
after(async () => {
  // A failed test may leave nodes running.
  killAll()
  await nodes.stopAll()
})

/** `didcomm-mesh start` as its own process (the Node running the tests), on free ports, in a fresh data dir. */
async function startCli (bootstrap?: string): Promise<CliNode> {
  const args = ['--data-dir', await nodes.dir(), '--http-port', '0', '--p2p-port', '0', '--p2p-ws-port', '0', '--log-level', 'warn']
  if (bootstrap !== undefined) args.push('--bootstrap', bootstrap)
  const node = await launchStart(args)
  const out = node.stdout()
  const multiaddr = fields(out, 'libp2p').find(ma => ma.includes('/tcp/') && !ma.includes('/ws'))
  const [url] = fields(out, 'HTTP')
  const [did] = fields(out, 'mediator DID')
  assert.ok(multiaddr !== undefined && url !== undefined && did !== undefined, out)
  return { ...node, url, did, multiaddr }
}

// Proves the CLI alone makes a mesh: three processes, nodes 2 and 3 bootstrapped to node 1; a business
// mediated at node 3 reaches a wallet mediated at node 1, and every node stops cleanly on SIGTERM.
it('three `didcomm-mesh start` processes relay a message from node 3 to a wallet at node 1', async () => {
  const first = await startCli()
  assert.match(first.multiaddr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
  const [second, third] = await Promise.all([startCli(first.multiaddr), startCli(first.multiaddr)]) as [CliNode, CliNode]

  const { wallet, pairwise } = await TestAgent.mediatedWallet(first)
  const business = new TestAgent()
  await business.mediate(third.url, third.did)

  const msg = business.message(BASIC, { content: 'across three processes' }, pairwise)
  const answer = await business.sendThrough(third, msg, pairwise, first.did)
  assert.equal(answer.status, 202, answer.text)

  const received = await waitFor(async () => {
    const got = await wallet.pickup(first.url, first.did, { ack: true })
    return got.find(r => r.message.id === msg.id)
  }, 20_000, 'the message at node 1')
  assert.deepEqual(received.message.body, { content: 'across three processes' })
  const info = await (await fetch(`${third.url}/info`)).json() as { mesh: { outbox: { delivered: number, depth: number } } }
  assert.equal(info.mesh.outbox.delivered, 1)
  assert.equal(info.mesh.outbox.depth, 0)

  for (const node of [first, second, third]) node.child.kill('SIGTERM')
  for (const node of [first, second, third]) assert.equal(await exitOf(node.child), 0, `stderr: ${node.stderr()}`)
})
