/**
 * The mix directory on its own, on real libp2p hosts: what a peer's claims can make it hold, and
 * how often peers exchange them.
 */
import assert from 'node:assert/strict'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
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
import type { MixDirectory, MixDirectoryInit } from '../../node/mesh/directory.ts'
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

/** A directory on `node` whose debug log lines the test can wait for. */
function directoryOn (node: MeshLibp2p, init: Omit<MixDirectoryInit, 'mix'> = {}): { directory: MixDirectory, did: string, logged: (msg: string) => Promise<void> } {
  const lines: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(line) } })
  const did = didNaming(node.peerId.toString())
  const directory = createMixDirectory({ libp2p: node, resolver: createResolver(), logger, did: () => did }, { mix: true, ...init })
  const logged = async (msg: string): Promise<void> => {
    await waitFor(() => lines.some(line => (JSON.parse(line) as { msg?: string }).msg === msg) ? true : undefined, 5_000, `"${msg}" in the log`)
    lines.length = 0
  }
  return { directory, did, logged }
}

const listedIds = (directory: MixDirectory): string[] => directory.list().map(m => m.peerId)

it('when full keeps the peers it has and refuses newcomers, each listed only while connected; answers with its own DID', async () => {
  const node = await host()
  const { directory, did: nodeDid, logged } = directoryOn(node, { maxPeers: 2, maxPeersPerHost: 10 })
  await directory.start()
  try {
    const peers = [await host(), await host(), await host()]
    for (const peer of peers) assert.equal(await claim(peer, node, didNaming(peer.peerId.toString())), nodeDid)
    await logged('mix directory full; peer not listed')
    assert.deepEqual(listedIds(directory), peers.slice(0, 2).map(p => p.peerId.toString()))

    // A peer that goes is no longer listed, and makes room.
    await (peers[0] as MeshLibp2p).stop()
    await waitFor(() => directory.list().length === 1 ? true : undefined, 5_000, 'the stopped peer to be dropped')
    const late = peers[2] as MeshLibp2p
    await late.hangUp(node.peerId) // one exchange per connection: it claims again on a new one
    await claim(late, node, didNaming(late.peerId.toString()))
    await waitFor(() => directory.list().length === 2 ? true : undefined, 5_000, 'the newcomer listed once there is room')
    assert.deepEqual(listedIds(directory), peers.slice(1).map(p => p.peerId.toString()))
  } finally {
    await directory.stop()
  }
})

it('lists at most maxPeersPerHost peers of one IP address (2 by default)', async () => {
  const node = await host()
  const { directory, logged } = directoryOn(node)
  await directory.start()
  try {
    // All on 127.0.0.1, as one machine with many cheap peer IDs would be.
    const peers = [await host(), await host(), await host()]
    for (const peer of peers) await claim(peer, node, didNaming(peer.peerId.toString()))
    await logged('mix peers of this host at the limit; peer not listed')
    assert.deepEqual(listedIds(directory), peers.slice(0, 2).map(p => p.peerId.toString()))
  } finally {
    await directory.stop()
  }
})

it('one exchange per connection each way: another identify (identify-push, a re-identify) does not start one, a second claim is refused', async () => {
  const a = await host()
  const b = await host()
  const onA = directoryOn(a)
  const onB = directoryOn(b)
  await onA.directory.start()
  await onB.directory.start()
  try {
    await a.dial(multiaddr(b.getMultiaddrs()[0]?.toString() as string))
    await waitFor(() => onA.directory.list().length === 1 && onB.directory.list().length === 1 ? true : undefined, 5_000, 'both listed')
    // Streams of the mix protocol that A opens to B from now on.
    let opened = 0
    for (const connection of a.getConnections(b.peerId)) {
      const newStream = connection.newStream.bind(connection)
      connection.newStream = async (protocols, options) => {
        if ([protocols].flat().includes(MIX_PROTOCOL)) opened++
        return await newStream(protocols, options)
      }
    }
    // A identifies B again on the same connection (as identify-push or a re-identify would): the
    // directory hears that peer:identify before the test does.
    const again = new Promise<void>(resolve => { a.addEventListener('peer:identify', () => { resolve() }, { once: true }) })
    await a.services.identify.identify(a.getConnections(b.peerId)[0] as Connection)
    await again
    assert.equal(opened, 0, 'another identify started another exchange')

    // A peer that claims twice on one connection gets one answer.
    const stranger = await host()
    await claim(stranger, a, didNaming(stranger.peerId.toString()))
    await assert.rejects(claim(stranger, a, didNaming(stranger.peerId.toString())))
    assert.equal(stranger.getConnections(a.peerId).length, 1, 'both claims on one connection')
  } finally {
    await onA.directory.stop()
    await onB.directory.stop()
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
