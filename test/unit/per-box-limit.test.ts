import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LIST_KEYS_MAX, perBoxLimit } from '../../storage/store.ts'

describe('a list\'s share of each box', () => {
  it('every box up to the limit while the boxes together stay within LIST_KEYS_MAX; else an equal share, at least one', () => {
    assert.equal(perBoxLimit(1000, 1), 1000)
    assert.equal(perBoxLimit(1000, 100), 1000)
    assert.equal(perBoxLimit(1000, 1000), 100, 'a delivery of 1,000 from 1,000 recipients reads what one of 100 did')
    assert.equal(perBoxLimit(100, 1000), 100)
    assert.equal(perBoxLimit(10, 0), 10)
    assert.equal(perBoxLimit(1000, LIST_KEYS_MAX * 2), 1)
    for (const boxes of [1, 7, 150, 999, 1000, 5000]) assert.ok(perBoxLimit(1000, boxes) * boxes <= Math.max(LIST_KEYS_MAX, boxes))
  })
})
