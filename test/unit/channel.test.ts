import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream, streamPair } from '@libp2p/utils'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { RelayChannel } from '../../node/mesh/channel.ts'
import { DIDCOMM_MESH_PROTOCOL, encodeStatus } from '../../node/wire.ts'
import type { StatusFrame } from '../../node/wire.ts'

const PEER = { toString: () => 'peer' } as unknown as PeerId

/** A channel over an in-memory stream pair; the test plays the receiver on the other end. */
async function open (): Promise<{ channel: RelayChannel, receiver: ReturnType<typeof lpStream<Stream>>, dialed: string[] }> {
  const [outbound, inbound] = await streamPair()
  const dialed: string[] = []
  const libp2p = {
    async dialProtocol (_peer: PeerId, protocol: string) {
      dialed.push(protocol)
      return outbound
    }
  } as unknown as MeshLibp2p
  const channel = await RelayChannel.open(libp2p, PEER, AbortSignal.timeout(5_000))
  return { channel, receiver: lpStream(inbound), dialed }
}

const text = (frame: { subarray: () => Uint8Array }): string => new TextDecoder().decode(frame.subarray())
const signal = (): AbortSignal => AbortSignal.timeout(5_000)

describe('relay channel', () => {
  it('pipelines requests on one stream and matches the statuses to them in order', async () => {
    const { channel, receiver, dialed } = await open()
    assert.deepEqual(dialed, [DIDCOMM_MESH_PROTOCOL])
    const answers = ['one', 'two', 'three'].map(async packed => await channel.request(packed, signal()))
    // All three frames arrive before the receiver has answered any.
    const frames = [text(await receiver.read()), text(await receiver.read()), text(await receiver.read())]
    assert.deepEqual(frames, ['one', 'two', 'three'])
    const statuses: StatusFrame[] = [{ status: 'accepted' }, { status: 'rejected', code: 'e.p.req.quota.inbox', comment: 'full' }, { status: 'accepted', replies: ['r'] }]
    for (const status of statuses) await receiver.write(encodeStatus(status))
    assert.deepEqual(await Promise.all(answers), statuses)
    assert.equal(channel.usable, true)

    // The channel stays open for more.
    const more = channel.request('four', signal())
    assert.equal(text(await receiver.read()), 'four')
    await receiver.write(encodeStatus({ status: 'accepted' }))
    assert.deepEqual(await more, { status: 'accepted' })
    channel.close()
  })

  it('a bad status frame fails the requests waiting behind it, and the channel is no longer usable', async () => {
    const { channel, receiver } = await open()
    const first = channel.request('one', signal())
    const firstSettled = Promise.allSettled([first])
    const second = channel.request('two', signal())
    await receiver.read()
    await receiver.read()
    const settled = Promise.allSettled([second])
    // Not awaited: the channel aborts the stream as it reads the frame.
    void receiver.write(new TextEncoder().encode('{"status":"maybe"}')).catch(() => {})
    const [result] = await settled
    assert.equal(result?.status, 'rejected')
    assert.match(String(result?.status === 'rejected' ? result.reason : ''), /invalid status frame/)
    assert.equal((await firstSettled)[0]?.status, 'rejected', 'the request the bad frame answered fails too')
    assert.equal(channel.usable, false)
    await assert.rejects(channel.request('three', signal()), /invalid status frame/, 'a failed channel refuses at once')
  })

  // A request the bad frame answered must not be lost: in the relay its send would hang and its
  // outbox hop stop draining for good.
  it('a bad status frame also fails the request it answers', async () => {
    const { channel, receiver } = await open()
    const first = channel.request('one', AbortSignal.timeout(200))
    await receiver.read()
    void receiver.write(new TextEncoder().encode('not json')).catch(() => {})
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      first.then(() => 'resolved', () => 'rejected'),
      new Promise<string>(resolve => { timer = setTimeout(() => { resolve('still pending') }, 500) })
    ])
    clearTimeout(timer)
    assert.equal(outcome, 'rejected')
  })

  it('a status nobody asked for fails the channel', async () => {
    const { channel, receiver } = await open()
    await receiver.write(encodeStatus({ status: 'accepted' }))
    const deadline = Date.now() + 5_000
    while (channel.usable && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 1))
    assert.equal(channel.usable, false)
    await assert.rejects(channel.request('late', signal()), /nobody asked for/)
  })

  it('an aborted request fails the others waiting on the stream too', async () => {
    const { channel, receiver } = await open()
    const controller = new AbortController()
    const patient = channel.request('patient', signal())
    const hasty = channel.request('hasty', controller.signal)
    await receiver.read()
    await receiver.read()
    controller.abort(new Error('gave up'))
    await assert.rejects(hasty, /gave up/)
    await assert.rejects(patient, /gave up/)
    assert.equal(channel.usable, false)
  })

  it('close fails the statuses still due', async () => {
    const { channel, receiver } = await open()
    const pending = channel.request('one', signal())
    await receiver.read()
    channel.close()
    await assert.rejects(pending, /relay channel closed/)
    assert.equal(channel.usable, false)
  })
})
