import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { freePort } from '../../bench/lib/ports.ts'
import { testNodes, waitFor } from '../helpers/node.ts'

const nodes = testNodes()
after(async () => { await nodes.stopAll() })

// `--bootstrap <multiaddr>` dials the given peer at start; both ends then list each other in /info.
it('a node started with --bootstrap connects to that peer', async () => {
  const first = await nodes.start()
  const second = await nodes.start({ bootstrap: [first.info.multiaddrs[0]] })
  await waitFor(() => second.node.info().peers.includes(first.info.peerId) ? true : undefined, 15_000, 'bootstrap connection')
  const info = await (await fetch(`${first.url}/info`)).json() as { peers: string[] }
  assert.ok(info.peers.includes(second.info.peerId))
})

// A node whose bootstrap peer is down when it starts keeps dialling it, and joins once it is up.
it('a node whose bootstrap peer was down joins it when it comes up', async () => {
  const p2pPort = await freePort()
  const first = await nodes.start({ p2pPort })
  const address = first.info.multiaddrs.find(ma => ma.includes(`/tcp/${p2pPort}/`)) as string
  await first.stop()

  const second = await nodes.start({ bootstrap: [address] })
  const again = await nodes.start({ dataDir: first.config.dataDir, p2pPort })
  await waitFor(() => second.node.info().peers.includes(again.info.peerId) ? true : undefined, 20_000, 'the late bootstrap connection')
})
