/**
 * A next hop this node relayed to is tagged keep-alive, so libp2p itself redials it when it drops and
 * comes back: the connection then wakes the outbox's backing-off hop (outbox.retryNow).
 */
import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import pino from 'pino'
import { waitFor } from '../../bench/lib/wait.ts'
import { freePort } from '../../bench/lib/ports.ts'
import { keepInTouch } from '../../node/mesh/keep-in-touch.ts'

const started: Libp2p[] = []
after(async () => { for (const peer of started) await peer.stop() })

async function peerOn (port: number, privateKey?: PrivateKey): Promise<Libp2p> {
  const peer = await createLibp2p({
    ...(privateKey === undefined ? {} : { privateKey }),
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  started.push(peer)
  return peer
}

async function tagsOf (peer: Libp2p, other: Libp2p): Promise<string[]> {
  return [...(await peer.peerStore.get(other.peerId)).tags.keys()]
}

it('a peer relayed to is redialled when it restarts, with no message to send', async () => {
  const nextHopKey = await generateKeyPair('Ed25519')
  const nextHopPort = await freePort()
  const relaying = await peerOn(0)
  let nextHop = await peerOn(nextHopPort, nextHopKey)
  await relaying.dial(nextHop.getMultiaddrs()[0] as never)
  const contacts = keepInTouch(relaying, pino({ level: 'silent' }))
  try {
    assert.deepEqual(await tagsOf(relaying, nextHop), [], 'not tagged before a relay')
    contacts.relayedTo(nextHop.peerId)
    await waitFor(async () => (await tagsOf(relaying, nextHop)).some(tag => tag.startsWith('keep-alive')) ? true : undefined, 5_000, 'the keep-alive tag')

    await nextHop.stop()
    await waitFor(() => relaying.getConnections(nextHop.peerId).length === 0 ? true : undefined, 5_000, 'the connection to close')
    nextHop = await peerOn(nextHopPort, nextHopKey)
    await waitFor(() => relaying.getConnections(nextHop.peerId).length > 0 ? true : undefined, 15_000, 'the relaying peer to redial the next hop')
  } finally {
    contacts.stop()
  }
})
