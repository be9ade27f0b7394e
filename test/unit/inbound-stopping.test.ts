/**
 * What fails while the node stops is "not now", not a fault: a forward whose unpack was under way
 * on a worker thread when the node closed its threads is answered e.m.not-ready (a relaying peer
 * keeps it and sends it again), while the same failure in a running node stays an internal error.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createAnoncryptPool } from '../../didcomm/anoncrypt-pool.ts'
import { createEnvelope } from '../../didcomm/envelope.ts'
import type { Secret } from '../../didcomm/envelope.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { createInbound } from '../../node/inbound.ts'
import { PROBLEM } from '../../protocols/problem-report/codes.ts'
import { BASIC, TestAgent } from '../helpers/client.ts'

describe('inbound while the node stops', () => {
  const mediator = new TestAgent()
  const mediatorDid = mediator.newDid('http://127.0.0.1:9')
  const sender = new TestAgent()
  const secrets = (kid: string): Secret | undefined => mediator.secrets.get(kid) as Secret | undefined

  /** One anoncrypted message received while its pool closes, with the node accepting or not. */
  async function receivedAsThreadsClose (accepting: boolean): Promise<string | undefined> {
    const pool = createAnoncryptPool(1)
    await pool.warm()
    const inbound = createInbound({
      envelope: createEnvelope(createResolver(), secrets, { anoncryptPool: pool }),
      dids: () => [mediatorDid],
      dispatch: async () => ({}),
      logger: pino({ level: 'silent' }),
      accepting: () => accepting
    })
    const packed = await sender.pack(sender.message(BASIC, { content: 'in flight' }, mediatorDid), mediatorDid, null)
    const outcome = inbound.receive(packed, { transport: 'libp2p' })
    await pool.close()
    return (await outcome).problem?.code
  }

  it('a forward whose worker closed under it is refused as not ready while the node stops', async () => {
    assert.equal(await receivedAsThreadsClose(false), PROBLEM.notReady)
  })

  it('the same failure while the node runs is an internal error', async () => {
    assert.equal(await receivedAsThreadsClose(true), PROBLEM.internal)
  })
})
