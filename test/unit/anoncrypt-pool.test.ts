/**
 * Anoncrypt decrypted on worker threads (didcomm/anoncrypt-pool.ts) opens what the main thread
 * opens, refuses what it refuses (as EnvelopeError, so inbound answers e.p.crypto), takes many
 * concurrent forwards in batches across its threads, and once closed keeps no process alive.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { AnoncryptThreadError, createAnoncryptPool } from '../../didcomm/anoncrypt-pool.ts'
import { createEnvelope, EnvelopeError } from '../../didcomm/envelope.ts'
import type { Secret } from '../../didcomm/envelope.ts'
import type { JweJson } from '../../didcomm/jose.ts'
import { createResolver } from '../../didcomm/resolver.ts'
import { TestAgent } from '../helpers/client.ts'

const ALGORITHMS = ['A256cbcHs512EcdhEsA256kw', 'Xc20pEcdhEsA256kw', 'A256gcmEcdhEsA256kw'] as const

describe('anoncrypt on worker threads', () => {
  const mediator = new TestAgent()
  const mediatorDid = mediator.newDid('http://127.0.0.1:9')
  const sender = new TestAgent()
  const pool = createAnoncryptPool(2)
  after(async () => { await pool.close() })
  const secrets = (kid: string): Secret | undefined => mediator.secrets.get(kid) as Secret | undefined
  const pooled = createEnvelope(createResolver(), secrets, { anoncryptPool: pool })
  const inThread = createEnvelope(createResolver(), secrets)

  async function packed (n: number): Promise<string> {
    const message = sender.message('https://didcomm.org/basicmessage/2.0/message', { content: `héllo ${n} ✓`, id: randomUUID() }, mediatorDid)
    return await sender.pack(message, mediatorDid, null, { enc_alg_anon: ALGORITHMS[n % ALGORITHMS.length] })
  }

  it('opens 60 concurrent JWEs, every algorithm, as the main thread does, before its threads have loaded and after', async () => {
    const early = await packed(0)
    assert.deepEqual(await pooled.unpack(early), await inThread.unpack(early))
    await pool.warm()
    const all = await Promise.all(Array.from({ length: 60 }, async (_, n) => await packed(n)))
    const opened = await Promise.all(all.map(async text => await pooled.unpack(text)))
    for (const [i, text] of all.entries()) {
      const expected = await inThread.unpack(text)
      assert.deepEqual(opened[i], expected)
      assert.deepEqual(opened[i]?.recipientKids, (JSON.parse(text) as JweJson).recipients.map(r => r.header.kid))
    }
  })

  it('refuses a JWE whose ciphertext was changed, as EnvelopeError, and goes on opening good ones', async () => {
    const jwe = JSON.parse(await packed(0)) as JweJson
    const bytes = Buffer.from(jwe.ciphertext, 'base64url')
    bytes[0] = (bytes[0] ?? 0) ^ 1
    const bad = JSON.stringify({ ...jwe, ciphertext: bytes.toString('base64url') })
    const good = await packed(1)
    const [refused, opened] = await Promise.allSettled([pooled.unpack(bad), pooled.unpack(good)])
    assert.equal(refused.status, 'rejected')
    assert.ok(refused.status === 'rejected' && refused.reason instanceof EnvelopeError, 'a changed ciphertext is an envelope error')
    assert.equal(opened.status, 'fulfilled')
  })

  it('fails the jobs still out when closed as a lost thread, not a bad message, opens later ones itself, and can be closed twice', async () => {
    const own = createAnoncryptPool(1)
    const envelope = createEnvelope(createResolver(), secrets, { anoncryptPool: own })
    await own.warm()
    const out = assert.rejects(envelope.unpack(await packed(2)), AnoncryptThreadError)
    await own.close()
    await out
    await own.close()
    const late = await packed(3)
    assert.deepEqual(await envelope.unpack(late), await inThread.unpack(late), 'after close, on the calling thread')
  })

  it('needs at least one thread', () => {
    assert.throws(() => createAnoncryptPool(0), RangeError)
  })
})
