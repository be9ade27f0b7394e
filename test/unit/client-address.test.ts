import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAddressOrCidr } from '../../config/schema.ts'
import { createClientAddress } from '../../node/client-address.ts'

describe('client address', () => {
  const xff = createClientAddress({ trustProxy: ['127.0.0.1', '10.0.0.0/8'], header: 'x-forwarded-for' })
  const forwarded = createClientAddress({ trustProxy: ['127.0.0.1', '2001:db8::/32'], header: 'forwarded' })

  it('believes no header unless proxies are trusted, nor from an untrusted peer', () => {
    const none = createClientAddress({ trustProxy: [], header: 'x-forwarded-for' })
    assert.deepEqual(none('127.0.0.1', { 'x-forwarded-for': '192.0.2.9' }), { address: '127.0.0.1' })
    assert.deepEqual(xff('192.0.2.1', { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' }), { address: '192.0.2.1' })
    assert.deepEqual(xff('::ffff:192.0.2.1', {}), { address: '192.0.2.1' })
  })

  it('X-Forwarded-For: the rightmost address that is not a trusted proxy', () => {
    // The client forged the first two entries; nginx appended the real one, a trusted LB the next.
    assert.deepEqual(xff('::ffff:127.0.0.1', { 'x-forwarded-for': '1.1.1.1, 8.8.8.8, 198.51.100.7, 10.1.2.3', 'x-forwarded-proto': 'http, https' }), { address: '198.51.100.7', proto: 'https' })
    assert.equal(xff('127.0.0.1', { 'x-forwarded-for': '10.0.0.5, 10.0.0.6' }).address, '10.0.0.5', 'all trusted: the leftmost')
    assert.equal(xff('127.0.0.1', {}).address, '127.0.0.1', 'no header: the proxy itself')
    assert.equal(xff('127.0.0.1', { 'x-forwarded-for': '198.51.100.7, junk' }).address, '127.0.0.1', 'a hop the proxy could not name stops at the proxy')
    assert.equal(xff('127.0.0.1', { 'x-forwarded-for': '[2001:db8::1]:443' }).address, '2001:db8::1')
    assert.equal(xff('127.0.0.1', { forwarded: 'for=192.0.2.60' }).address, '127.0.0.1', 'the other header is ignored')
  })

  it('Forwarded (RFC 7239): for= of each element, quoted IPv6 with ports, proto of the nearest proxy', () => {
    const headers = { forwarded: 'for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=http, For=198.51.100.7:5000;proto=https;by=_nginx, for="[2001:db8::2]"', 'x-forwarded-for': '9.9.9.9' }
    assert.deepEqual(forwarded('127.0.0.1', { ...headers, forwarded: headers.forwarded + ';proto=https' }), { address: '198.51.100.7', proto: 'https' })
    assert.equal(forwarded('127.0.0.1', { forwarded: 'for=unknown' }).address, '127.0.0.1')
    assert.equal(forwarded('127.0.0.1', { forwarded: 'for="x, for=198.51.100.8' }).address, '198.51.100.8', 'a client quote cannot swallow the proxy element')
    assert.equal(forwarded('127.0.0.1', { forwarded: 'junk;for=198.51.100.9;by' }).address, '198.51.100.9', 'pairs without = are skipped')
    assert.equal(forwarded('2001:db8::7', { forwarded: 'for=198.51.100.10' }).address, '198.51.100.10', 'an IPv6 proxy in a trusted CIDR')
  })

  it('--trust-proxy accepts addresses and CIDRs only', () => {
    for (const good of ['127.0.0.1', '10.0.0.0/8', '::1', '2001:db8::/32', '0.0.0.0/0']) assert.ok(isAddressOrCidr(good), good)
    for (const bad of ['localhost', '10.0.0.0/33', '::/129', '10.0.0.0/8/1', '10.0.0.0/', '1.2.3']) assert.ok(!isAddressOrCidr(bad), bad)
  })
})
