import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BoxFloors } from '../../storage/level/box-floors.ts'

describe('mailbox scan floors', () => {
  it('a scan raises its box floor to the first live key it found; a write below lowers it', () => {
    const floors = new BoxFloors(10)
    assert.equal(floors.start('box').from, undefined)
    floors.raise('box', floors.start('box').ticket, 'k5')
    assert.equal(floors.start('box').from, 'k5')
    floors.lower('box', 'k7')
    assert.equal(floors.start('box').from, 'k5')
    floors.lower('box', 'k2')
    assert.equal(floors.start('box').from, 'k2')
  })

  it('a write during a scan (which its snapshot may have missed) keeps the scan from raising the floor', () => {
    const floors = new BoxFloors(10)
    floors.raise('box', floors.start('box').ticket, 'k1')
    const scan = floors.start('box')
    floors.lower('box', 'k3') // above the floor, and perhaps not in the scan's snapshot
    floors.raise('box', scan.ticket, 'k5')
    assert.equal(floors.start('box').from, 'k1')

    const unknown = new BoxFloors(10)
    const early = unknown.start('fresh')
    unknown.lower('fresh', 'k3')
    unknown.raise('fresh', early.ticket, 'k5')
    assert.equal(unknown.start('fresh').from, undefined, 'a box written while scanned is still scanned from its start')
  })

  it('keeps at most `capacity` boxes; an evicted box scans from its start, and a scan begun before an eviction may not raise', () => {
    const floors = new BoxFloors(2)
    floors.raise('a', floors.start('a').ticket, 'a5')
    const scanOfC = floors.start('c')
    floors.lower('c', 'c1') // c's write, which the scan may have missed
    floors.raise('b', floors.start('b').ticket, 'b5')
    floors.raise('d', floors.start('d').ticket, 'd5') // c's entry goes (a went first)
    assert.equal(floors.start('a').from, undefined)
    assert.equal(floors.start('c').from, undefined)
    floors.raise('c', scanOfC.ticket, 'c9')
    assert.equal(floors.start('c').from, undefined, "c's write is not hidden by a scan that started before it")
    assert.equal(floors.start('d').from, 'd5')
  })
})
