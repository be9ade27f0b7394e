import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { DestinationNotAllowedError, ResponseTooLargeError, isPublicAddress, safeLookup, safeRequest, urlAllowed } from '../../node/mesh/destination.ts'

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

  // Proves the one request function the relay, push and the did:web fetcher share: the check before connecting, the body sent, the answer's body read only when asked and capped.
  it('safeRequest: refuses a non-public address without connecting; sends the body; reads a 2xx body only when asked, up to its cap', async () => {
    let requests = 0
    const server = createServer((request, response) => {
      requests++
      let received = 0
      request.on('data', (chunk: Buffer) => { received += chunk.length })
      request.on('end', () => { response.writeHead(request.url === '/missing' ? 404 : 200).end(`${request.method ?? ''} ${received}`) })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      await assert.rejects(safeRequest(url, { method: 'GET', privateDestinations: false, timeoutMs: 5000 }), DestinationNotAllowedError)
      assert.equal(requests, 0)
      const init = { privateDestinations: true, timeoutMs: 5000 }
      assert.deepEqual(await safeRequest(url, { ...init, method: 'POST', body: Buffer.from('12345') }), { status: 200, body: Buffer.alloc(0) })
      assert.equal((await safeRequest(url, { ...init, method: 'POST', body: Buffer.from('12345'), maxResponseBytes: 100 })).body.toString(), 'POST 5')
      assert.deepEqual(await safeRequest(`${url}/missing`, { ...init, method: 'GET', maxResponseBytes: 100 }), { status: 404, body: Buffer.alloc(0) })
      await assert.rejects(safeRequest(url, { ...init, method: 'GET', maxResponseBytes: 3 }), ResponseTooLargeError)
    } finally {
      await new Promise(resolve => server.close(resolve))
    }
  })
})
