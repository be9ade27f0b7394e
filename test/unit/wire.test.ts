import assert from 'node:assert/strict'
import { it } from 'node:test'
import { retryLater } from '../../node/wire.ts'

it('a relay is kept and sent again after "not now" refusals (rate limit, quotas, not ready, store unreachable), dropped after any other', () => {
  for (const code of ['e.p.req.rate-limited', 'e.p.req.quota.outbox', 'e.p.req.quota.origin', 'e.m.not-ready']) assert.equal(retryLater(code), true, code)
  for (const code of ['e.p.msg.too-big', 'e.p.req.not-enrolled', 'e.p.xfer.cant-use-endpoint', 'e.p.me', undefined]) assert.equal(retryLater(code), false, String(code))
})
