import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMixer } from '../../node/mesh/mixer.ts'

describe('mix hold', () => {
  it('holds each forward a random time up to the delay, so they leave in another order', async () => {
    const mixer = createMixer({ maxDelayMs: 200, maxHeld: 100 })
    const order: number[] = []
    const start = performance.now()
    await Promise.all(Array.from({ length: 40 }, async (_, i) => { await mixer.hold(); order.push(i) }))
    assert.ok(performance.now() - start < 400)
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b))
    assert.equal(mixer.held(), 0)
  })

  it('holds at most maxHeld at once: the rest go on at once', async () => {
    const mixer = createMixer({ maxDelayMs: 10_000, maxHeld: 2 })
    void mixer.hold()
    void mixer.hold()
    assert.equal(mixer.held(), 2)
    const start = performance.now()
    await mixer.hold()
    assert.ok(performance.now() - start < 50)
    assert.equal(mixer.held(), 2)
  })

  it('a delay of 0 holds nothing', async () => {
    const mixer = createMixer({ maxDelayMs: 0, maxHeld: 10 })
    const held = mixer.hold()
    assert.equal(mixer.held(), 0)
    await held
  })
})
