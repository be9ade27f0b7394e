import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { after, it } from 'node:test'
import { startTestNode, tempDir, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const nodes: TestNode[] = []
const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = []
after(async () => {
  for (const node of nodes) await node.stop()
  for (const dir of dirs) await dir.remove()
})

// `--bootstrap <multiaddr>` dials the given peer at start; both ends then list each other in /info.
it('a node started with --bootstrap connects to that peer', async () => {
  for (let i = 0; i < 2; i++) dirs.push(await tempDir())
  const first = await startTestNode({ dataDir: dirs[0]?.path })
  nodes.push(first)
  const second = await startTestNode({ dataDir: dirs[1]?.path, bootstrap: [first.info.multiaddrs[0]] })
  nodes.push(second)
  await waitFor(() => second.node.info().peers.includes(first.info.peerId) ? true : undefined, 15_000, 'bootstrap connection')
  const info = await (await fetch(`${first.url}/info`)).json() as { peers: string[] }
  assert.ok(info.peers.includes(second.info.peerId))
})

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

// A node whose bootstrap peer is down when it starts keeps dialling it, and joins once it is up.
it('a node whose bootstrap peer was down joins it when it comes up', async () => {
  for (let i = 0; i < 2; i++) dirs.push(await tempDir())
  const p2pPort = await freePort()
  const first = await startTestNode({ dataDir: dirs[2]?.path, p2pPort })
  const address = first.info.multiaddrs.find(ma => ma.includes(`/tcp/${p2pPort}/`)) as string
  await first.stop()

  const second = await startTestNode({ dataDir: dirs[3]?.path, bootstrap: [address] })
  nodes.push(second)
  const again = await startTestNode({ dataDir: dirs[2]?.path, p2pPort })
  nodes.push(again)
  await waitFor(() => second.node.info().peers.includes(again.info.peerId) ? true : undefined, 20_000, 'the late bootstrap connection')
})
