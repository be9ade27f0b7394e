/**
 * The mix directory on its own, on real libp2p hosts: what a peer's claims can make it hold.
 */
import assert from 'node:assert/strict'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { after, it } from 'node:test'
import { pino } from 'pino'
import { fromString, toString } from 'uint8arrays'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { LIBP2P_URI } from '../../didcomm/transport.ts'
import { createMeshLibp2p } from '../../node/libp2p.ts'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { MIX_PROTOCOL, createMixDirectory } from '../../node/mesh/directory.ts'
import { waitFor } from '../helpers/node.ts'

const hosts: MeshLibp2p[] = []
after(async () => { for (const host of hosts) await host.stop() })

async function host (): Promise<MeshLibp2p> {
  const privateKey = toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64')
  const made = await createMeshLibp2p({ privateKey, datastore: new MemoryDatastore(), host: '127.0.0.1', port: 0, wsPort: 0 })
  await made.start()
  hosts.push(made)
  return made
}

const didNaming = (peer: string): string => peerDid2For(generateOkpKey('X25519'), generateOkpKey('Ed25519'), [{ uri: LIBP2P_URI + peer, accept: ['didcomm/v2'] }])

/** `from` tells `to` its DID over the mix protocol; returns the DID `to` answered with. */
async function claim (from: MeshLibp2p, to: MeshLibp2p, did: string): Promise<string> {
  const stream = await from.dialProtocol(multiaddr(to.getMultiaddrs()[0]?.toString() as string), MIX_PROTOCOL)
  const lp = lpStream(stream)
  await lp.write(fromString(did))
  const answer = toString((await lp.read()).subarray())
  await stream.close()
  return answer
}

it('keeps at most maxPeers, the newest, each only while connected; answers with its own DID', async () => {
  const node = await host()
  const nodeDid = didNaming(node.peerId.toString())
  const directory = createMixDirectory({ libp2p: node, resolver: createResolver(), logger: pino({ level: 'silent' }), did: () => nodeDid }, { mix: true, maxPeers: 2 })
  await directory.start()
  try {
    const peers = [await host(), await host(), await host()]
    for (const peer of peers) assert.equal(await claim(peer, node, didNaming(peer.peerId.toString())), nodeDid)
    await waitFor(() => directory.list().some(m => m.peerId === peers[2]?.peerId.toString()) ? true : undefined, 5_000, 'the last claim')
    assert.deepEqual(directory.list().map(m => m.peerId), peers.slice(1).map(p => p.peerId.toString()))

    // A peer that goes is no longer listed.
    await (peers[2] as MeshLibp2p).stop()
    await waitFor(() => directory.list().length === 1 ? true : undefined, 5_000, 'the stopped peer to be dropped')
  } finally {
    await directory.stop()
  }
})

it('a node that does not mix does not answer the protocol, and lists mixes without telling them its DID', async () => {
  const logger = pino({ level: 'silent' })
  const off = await host()
  const offDirectory = createMixDirectory({ libp2p: off, resolver: createResolver(), logger, did: () => didNaming(off.peerId.toString()) }, { mix: false })
  const on = await host()
  const onDid = didNaming(on.peerId.toString())
  const onDirectory = createMixDirectory({ libp2p: on, resolver: createResolver(), logger, did: () => onDid }, { mix: true })
  await offDirectory.start()
  await onDirectory.start()
  try {
    const stranger = await host()
    await assert.rejects(claim(stranger, off, didNaming(stranger.peerId.toString())))
    // Meeting (identify) makes the non-mix ask the mix: it learns the mix, the mix learns nothing.
    await off.dial(multiaddr(on.getMultiaddrs()[0]?.toString() as string))
    await waitFor(() => offDirectory.list().length > 0 ? true : undefined, 5_000, 'the mix listed')
    assert.deepEqual(offDirectory.list(), [{ did: onDid, peerId: on.peerId.toString() }])
    assert.deepEqual(onDirectory.list(), [])
  } finally {
    await offDirectory.stop()
    await onDirectory.stop()
  }
})
