/**
 * Mix hops (design §5a): a business on its own node S and a wallet at H, with mix nodes between
 * them. Each node's debug log says which peer handed it each message and which peer it relayed to
 * (and how many bytes): from those the test checks what each node saw.
 */
import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { after, before, describe, it } from 'node:test'
import { fromString } from 'uint8arrays'
import { BASIC_MESSAGE, MeshAgent } from '../../client/index.ts'
import type { ReceivedMessage } from '../../client/index.ts'
import { generateOkpKey, peerDid2For } from '../../didcomm/keys.ts'
import { forwardSizeOf } from '../../didcomm/padding.ts'
import { LIBP2P_URI } from '../../didcomm/transport.ts'
import { MIX_PROTOCOL } from '../../node/mesh/directory.ts'
import type { MixPeer } from '../../node/mesh/directory.ts'
import { didHasher } from '../../node/log.ts'
import { loadOrCreateNodeKeys, nodeSecret } from '../../storage/node-key-file.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode } from '../helpers/node.ts'
import { fingerprints, leaksIn, leaksInDir, startDhtPeer } from './helpers.ts'

const nodes = testNodes('didcomm-mesh-mix-', { logs: true })
after(async () => { await nodes.stopAll() })

interface Seen {
  /** Peers that handed this node a DIDComm message over libp2p. */
  from: string[]
  /** Peers this node relayed a message to, with its size on the wire. */
  to: Array<{ peer: string, bytes: number }>
  /** Mediator DIDs this node looked a route up for (cache, connection or DHT), as its log hashes them. */
  lookedUp: string[]
}

/** What `node` saw, from its debug log (lines after `since`). */
function seen (node: LoggedTestNode, since = 0): Seen {
  const result: Seen = { from: [], to: [], lookedUp: [] }
  for (const line of node.logs().slice(since).split('\n')) {
    if (line === '') continue
    const record = JSON.parse(line) as { msg?: string, transport?: string, peer?: string, to?: string, bytes?: number, outcome?: string, did?: string }
    if (record.msg === 'message' && record.transport === 'libp2p' && record.peer !== undefined) result.from.push(record.peer)
    if (record.msg === 'relayed' && record.outcome === 'accepted') result.to.push({ peer: record.to ?? '', bytes: record.bytes ?? 0 })
    if (record.msg === 'route lookup') result.lookedUp.push(record.did ?? '')
  }
  return result
}

async function mixesAt (node: LoggedTestNode): Promise<MixPeer[]> {
  const res = await fetch(`${node.url}/mesh/mixes`)
  assert.equal(res.status, 200)
  return ((await res.json()) as { mixes: MixPeer[] }).mixes
}

/** `dids` as `node`'s log names them: a keyed hash under a secret made from its key file. */
async function asLoggedBy (node: LoggedTestNode, dids: readonly string[]): Promise<string[]> {
  return dids.map(didHasher(nodeSecret(await loadOrCreateNodeKeys(node.config.dataDir), 'log-hash')))
}

/** Bytes queued in `node`'s mailboxes, from its metrics. */
async function mailboxBytes (node: LoggedTestNode): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text()
  return Number(/^didcomm_mesh_mailbox_bytes (\d+)$/m.exec(text)?.[1] ?? NaN)
}

const peerIds = (list: MixPeer[]): string[] => list.map(m => m.peerId).sort()
/** Runs `step` for 0…count-1, one after the other. */
async function sequence<T> (count: number, step: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  for (let i = 0; i < count; i++) results.push(await step(i))
  return results
}

const texts = (got: ReceivedMessage[]): string[] => got.filter(m => m.type === BASIC_MESSAGE).map(m => String(m.body.content))

/** Picks up until every one of `wanted` has arrived; returns the basic messages received. */
async function pickupUntil (agent: MeshAgent, wanted: string[], what: string): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = []
  await waitFor(async () => {
    got.push(...(await agent.pickup()).filter(m => m.type === BASIC_MESSAGE))
    const have = new Set(texts(got))
    return wanted.every(t => have.has(t)) ? true : undefined
  }, 60_000, what)
  return got
}

describe('mix hops between a business on node S and a wallet at node H', () => {
  let s: LoggedTestNode
  let h: LoggedTestNode
  let mixes: LoggedTestNode[]
  let optedOut: LoggedTestNode
  let business: MeshAgent
  let businessDir: string
  let wallet: MeshAgent

  before(async () => {
    // Every node bootstraps to all started before it, so the mesh is complete and each learns every mix.
    const started: LoggedTestNode[] = []
    const next = async (flags: Record<string, unknown> = {}): Promise<LoggedTestNode> => {
      const node = await nodes.start({ bootstrap: started.map(n => n.info.multiaddrs[0]), ...flags })
      started.push(node)
      return node
    }
    s = await next()
    h = await next()
    // Eight nodes: S, H, five mixes and one that opted out.
    mixes = []
    for (let i = 0; i < 5; i++) mixes.push(await next())
    optedOut = await next({ mix: false })
    const everyMix = peerIds([s, h, ...mixes].map(n => ({ did: n.did, peerId: n.info.peerId })))
    for (const node of [s, h]) {
      const others = everyMix.filter(p => p !== node.info.peerId)
      await waitFor(async () => JSON.stringify(peerIds(await mixesAt(node))) === JSON.stringify(others) ? true : undefined, 20_000, `${node.url}'s mix directory`)
    }

    businessDir = await nodes.dir()
    business = await MeshAgent.open(businessDir)
    await business.connect(s.node.invitation().url)
    wallet = await MeshAgent.open(await nodes.dir())
    await wallet.connect(h.node.invitation().url)
    const offer = await business.createInvitation({ label: 'Acme' })
    await wallet.acceptInvitation(offer.url, { label: 'Alice' })
    await waitFor(async () => {
      await business.pickup()
      return business.contacts.find(c => c.name === 'Alice')
    }, 60_000, 'the wallet accepting the invitation')
  })

  it('the directory lists the mix peers with their DIDs: never the node itself, nor a node with --mix false', async () => {
    const listed = await mixesAt(s)
    assert.deepEqual(peerIds(listed), peerIds([h, ...mixes].map(n => ({ did: n.did, peerId: n.info.peerId }))))
    for (const node of [h, ...mixes]) assert.ok(listed.some(m => m.peerId === node.info.peerId && m.did === node.did), `${node.url} listed with its DID`)
    // A node that does not mix still lists the mixes to its own clients (it asks them as it meets them).
    await waitFor(async () => (await mixesAt(optedOut)).length === 2 + mixes.length ? true : undefined, 10_000, 'the mixes listed by the node that opted out')
    // The DIDComm query the client makes answers the same DIDs.
    assert.deepEqual((await business.mixNodes()).sort(), listed.map(m => m.did).sort())
  })

  /**
   * Sends one message and waits for it; returns what each node saw meanwhile. One at a time, so
   * that a mix that is the first hop of one message and the second of another is not taken for one
   * that saw both ends of the same message.
   */
  async function sendOne (sender: MeshAgent, contact: string, receiver: MeshAgent, text: string, ends: { from: LoggedTestNode, to: LoggedTestNode }): Promise<Map<LoggedTestNode, Seen>> {
    const all = [s, h, ...mixes, optedOut]
    const marks = all.map(n => n.logs().length)
    const now = (): Map<LoggedTestNode, Seen> => new Map(all.map((n, i) => [n, seen(n, marks[i])]))
    await sender.send(contact, text)
    const got = await pickupUntil(receiver, [text], text)
    // Padding is the sender's: the application sees its body and no pad.
    for (const m of got) {
      assert.equal(m.message.pad, undefined)
      assert.deepEqual(Object.keys(m.body), ['content'])
    }
    // A hop logs its relay once the next acknowledged it, which may come just after the pickup:
    // wait for the first and the last relay's lines, so that they do not fall into the next message's window.
    return await waitFor(() => {
      const saw = now()
      const logged = (saw.get(ends.from)?.to.length ?? 0) > 0 && [...saw.values()].some(v => v.to.some(t => t.peer === ends.to.info.peerId))
      return logged ? saw : undefined
    }, 10_000, 'the relays of the message to be logged')
  }

  it('messages each way pass two mix hops: no node but the two ends sees both, S never looks H up', async () => {
    const count = 100
    const runs = [
      // Of lengths that differ (up to 1 KB), in one or two buckets.
      ...await sequence(count, async i => ({ from: s, to: h, saw: await sendOne(business, 'Alice', wallet, `to the wallet #${i} ${'.'.repeat(i % 20 * 50)}`, { from: s, to: h }) })),
      ...await sequence(count, async i => ({ from: h, to: s, saw: await sendOne(wallet, 'Acme', business, `to the business #${i} ${'.'.repeat(i % 20 * 50)}`, { from: h, to: s }) }))
    ]
    const hDids = await asLoggedBy(s, h.info.dids)
    const sizes: number[] = []
    /** Per direction, the frame sizes hop by hop of each message. */
    const paths = new Map<LoggedTestNode, Set<string>>([[s, new Set()], [h, new Set()]])
    const drawn = new Set<LoggedTestNode>()
    for (const { from, to, saw } of runs) {
      const of = (n: LoggedTestNode): Seen => saw.get(n) as Seen
      // The sender's node hands it to one first mix; the recipient's mediator gets it from another.
      const first = [...saw].filter(([n, v]) => n !== to && v.from.includes(from.info.peerId)).map(([n]) => n)
      const last = [...saw].filter(([n, v]) => n !== from && v.to.some(t => t.peer === to.info.peerId)).map(([n]) => n)
      assert.equal(first.length, 1, 'one first hop')
      assert.equal(last.length, 1, 'one last hop')
      assert.ok(mixes.includes(first[0] as LoggedTestNode) && mixes.includes(last[0] as LoggedTestNode), 'both hops are mixes')
      assert.notEqual(first[0], last[0], 'one mix saw both ends')
      drawn.add(first[0] as LoggedTestNode).add(last[0] as LoggedTestNode)
      assert.ok(!of(to).from.includes(from.info.peerId), 'the recipient\'s mediator heard from the sender\'s node')
      assert.ok(!of(from).to.some(t => t.peer === to.info.peerId), 'the sender\'s node relayed to the recipient\'s mediator')
      // The node that opted out carried nothing.
      assert.deepEqual([of(optedOut).from, of(optedOut).to], [[], []])
      sizes.push(...[...saw.values()].flatMap(v => v.to.map(t => t.bytes)))
      paths.get(from)?.add(JSON.stringify([from, first[0] as LoggedTestNode, last[0] as LoggedTestNode].map(n => of(n).to.map(t => t.bytes))))
      // The hop that needs a lookup makes it: S only ever needs the first mix.
      if (from === s) {
        assert.ok(of(s).lookedUp.length > 0, 'S looked up its first hop')
        assert.deepEqual(of(s).lookedUp.filter(k => hDids.includes(k)), [], 'S looked up H')
      }
    }
    // Drawn at random per message: 200 messages drawing two of five mixes all but never miss one.
    assert.equal(drawn.size, mixes.length)
    // Every relayed frame is filled to a 2 KiB step on the wire, and messages of one bucket have the
    // same frame sizes hop by hop.
    assert.ok(sizes.length >= 3 * 2 * count)
    assert.deepEqual(sizes.filter(b => forwardSizeOf(b) !== b), [], 'frames off a step')
    // The lengths (up to 19 x 50 characters) grow the packed message by about 1.8 KB: two buckets at most, where
    // without padding each message would have sizes of its own.
    for (const [from, seenPaths] of paths) assert.ok(seenPaths.size <= 2, `from ${from.url}, frame sizes hop by hop: ${[...seenPaths].join(' ')}`)
  })

  it('0 mix hops goes straight from S to H, as before', async () => {
    const mark = h.logs().length
    const sMark = s.logs().length
    await business.send('Alice', 'direct', { mixHops: 0 })
    await pickupUntil(wallet, ['direct'], 'the direct message')
    assert.ok(seen(h, mark).from.includes(s.info.peerId))
    // The control of the lookup check above: without mixes S does look H up, and its log says so.
    const hDids = await asLoggedBy(s, h.info.dids)
    assert.ok(seen(s, sMark).lookedUp.some(did => hDids.includes(did)))
    await assert.rejects(business.send('Alice', 'too many', { mixHops: 4 }), RangeError)
  })

  it('what H stores for the wallet is padded: messages of one bucket take the same bytes', async () => {
    const stored: number[] = []
    for (const [i, text] of ['short', `longer ${'.'.repeat(100)}`, `longest ${'.'.repeat(250)}`].entries()) {
      const before = await mailboxBytes(h)
      await business.send('Alice', text)
      stored.push(await waitFor(async () => {
        const grown = await mailboxBytes(h) - before
        return grown > 0 ? grown : undefined
      }, 20_000, `message ${i} stored at H`))
    }
    await pickupUntil(wallet, ['short'], 'the padded messages')
    // The three lengths span less than a bucket, so at least two share one, and take exactly the same bytes.
    assert.ok(new Set(stored).size <= 2, stored.join(', '))
  })

  it('a mix that goes down is no longer offered; a message already routed through it waits and goes on once it is back', async () => {
    const down = mixes[2] as LoggedTestNode
    await down.stop()
    for (const node of [s, h]) {
      await waitFor(async () => (await mixesAt(node)).some(m => m.peerId === down.info.peerId) ? undefined : true, 10_000, `${node.url} to drop the stopped mix`)
    }
    // The agent opened again asks its node for the list again (an agent keeps it for a minute).
    const reopened = await MeshAgent.open(businessDir)
    assert.ok(!(await reopened.mixNodes()).includes(down.did))
    const during = Array.from({ length: 5 }, (_, i) => `while a mix is down #${i}`)
    for (const text of during) await reopened.send('Alice', text)
    await pickupUntil(wallet, during, 'the messages sent while a mix is down')

    await reopened.send('Alice', 'through the stopped mix', { via: [down.did, (mixes[0] as LoggedTestNode).did] })
    const back = await down.restart()
    mixes[2] = back
    await pickupUntil(wallet, ['through the stopped mix'], 'the message held for the stopped mix')
    await waitFor(async () => (await mixesAt(s)).some(m => m.peerId === back.info.peerId) ? true : undefined, 20_000, 'the mix listed again')
  })

  it('a peer claiming a DID that does not name it is not listed; an oversized claim is cut off', async () => {
    const rogue = await startDhtPeer(s.info.multiaddrs[0] as string)
    try {
      const keys = { keyAgreement: generateOkpKey('X25519'), authentication: generateOkpKey('Ed25519') }
      const naming = (peer: string): string => peerDid2For(keys.keyAgreement, keys.authentication, [{ uri: LIBP2P_URI + peer, accept: ['didcomm/v2'] }])
      const sPeer = peerIdFromString(s.info.peerId)
      for (const [i, claim] of [h.did, naming(mixes[0]?.info.peerId as string), 'x'.repeat(9000), naming(rogue.peerId.toString())].entries()) {
        // S answers one claim per connection: each on a connection of its own.
        if (i > 0) await rogue.hangUp(sPeer)
        const stream = await rogue.dialProtocol(sPeer, MIX_PROTOCOL)
        const lp = lpStream(stream, { maxDataLength: 16_384 })
        await lp.write(fromString(claim))
        await lp.read().catch(() => undefined)
        await stream.close().catch(() => {})
      }
      // Only the last claim names the rogue itself: that one is kept (it could decrypt what is sent to it).
      await waitFor(async () => (await mixesAt(s)).some(m => m.peerId === rogue.peerId.toString()) ? true : undefined, 5_000, 'the honest claim')
      const listed = await mixesAt(s)
      assert.equal(listed.length, 2 + mixes.length)
      assert.equal(listed.filter(m => m.did === h.did).length, 1)
    } finally {
      await rogue.stop()
    }
  })

  it('a node with the default --mix-peers-per-host lists two of the mixes on 127.0.0.1, however many it meets there', async () => {
    const capped = await nodes.start({ bootstrap: [s, h, ...mixes].map(n => n.info.multiaddrs[0]), mixPeersPerHost: 2 })
    try {
      await waitFor(() => capped.logs().includes('mix peers of this host at the limit') ? true : undefined, 20_000, 'the per-host limit to be reached')
      assert.equal((await mixesAt(capped)).length, 2)
    } finally {
      await capped.stop()
    }
  })

  it('the privacy scan of every data dir and log: only S holds the business\'s pairwise DID, only H the wallet\'s', async () => {
    const contact = business.contact('Alice')
    const fresh = (uri?: string): string => peerDid2For(generateOkpKey('X25519'), generateOkpKey('Ed25519'), uri === undefined ? [] : [{ uri, accept: ['didcomm/v2'] }])
    const all = [s, h, ...mixes, optedOut]
    // Pieces any DID routed through these nodes shares are no evidence.
    const unrelated = [...all.flatMap(n => n.info.dids), fresh(s.did), fresh(h.did), fresh()]
    const secrets = {
      "business's pairwise DID": fingerprints(contact.myDid, unrelated),
      "wallet's pairwise DID": fingerprints(contact.theirDid, unrelated)
    }
    for (const node of all) await node.stop()
    const found = new Map<LoggedTestNode, string[]>()
    for (const node of all) found.set(node, [...await leaksInDir(node.config.dataDir, secrets), ...leaksIn(node.logs(), secrets)].map(leak => leak.split(' (')[0] as string))
    // Positive controls: the scan finds what each home node does hold.
    assert.ok(found.get(s)?.includes("business's pairwise DID"))
    assert.ok(found.get(h)?.includes("wallet's pairwise DID"))
    assert.ok(!(found.get(s) ?? []).includes("wallet's pairwise DID"), 'S holds the wallet\'s pairwise DID')
    assert.ok(!(found.get(h) ?? []).includes("business's pairwise DID"), 'H holds the business\'s pairwise DID')
    for (const node of [...mixes, optedOut]) assert.deepEqual(found.get(node), [], `${node.url} holds a pairwise DID`)
  })
})
