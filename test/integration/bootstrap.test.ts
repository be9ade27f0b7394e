import assert from 'node:assert/strict'
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
