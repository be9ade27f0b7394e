import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DestinationNotAllowedError, isPublicAddress, safeLookup, urlAllowed } from '../../node/mesh/destination.ts'

describe('relay destinations', () => {
  // Proves every kind of non-public address is refused, IPv4-mapped IPv6 forms included, and public ones are not.
  it('isPublicAddress: loopback, private, link-local, unique-local, CGNAT, unspecified, multicast are not public', () => {
    for (const address of [
      '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '::ffff:10.0.0.1', '64:ff9b::a00:1', '::127.0.0.1',
      '::a9fe:a9fe', '::ffff:0:7f00:1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'not an address'
    ]) assert.equal(isPublicAddress(address), false, address)
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPublicAddress(address), true, address)
    }
  })

  // Proves literal hosts are refused in every spelling the URL parser accepts, only http(s) passes, and the option opens private addresses.
  it('urlAllowed: literal non-public hosts (any spelling) and other schemes are refused; host names wait for connect time', () => {
    for (const url of ['http://127.0.0.1:8080/', 'http://2130706433/', 'http://0x7f.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'https://169.254.169.254/latest', 'ftp://8.8.8.8/', 'file:///etc/passwd', 'not a url']) {
      assert.equal(urlAllowed(url, false), false, url)
    }
    for (const url of ['https://8.8.8.8/', 'https://mediator.example.com/', 'http://localhost:8080/']) assert.equal(urlAllowed(url, false), true, url)
    assert.equal(urlAllowed('http://127.0.0.1:8080/', true), true)
    assert.equal(urlAllowed('ftp://127.0.0.1/', true), false)
  })

  // Proves the connect-time lookup refuses a name resolving to loopback, in both forms node:net asks for.
  it('safeLookup refuses localhost, for one address and for all', async () => {
    for (const all of [false, true]) {
      const err = await new Promise(resolve => { safeLookup('localhost', { all }, resolve) })
      assert.ok(err instanceof DestinationNotAllowedError, `all: ${all}`)
    }
  })
})
