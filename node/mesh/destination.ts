/**
 * Which HTTP destinations a relay may reach. A forward names its next hop by DID, and anyone can
 * make a DID whose service is http://127.0.0.1:… or a cloud metadata address: without this check
 * the node would POST into its own host or network for them (SSRF).
 */
import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress, LookupAllOptions } from 'node:dns'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { BlockList, isIP } from 'node:net'
import type { LookupFunction } from 'node:net'

/** Addresses that are not on the public internet (BlockList also matches their IPv4-mapped IPv6 forms). */
const NOT_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) NOT_PUBLIC.addSubnet(network, prefix, 'ipv4')
// Unspecified, loopback and IPv4-compatible (::/96), SIIT (::ffff:0:0:0/96), NAT64, 6to4 and Teredo
// (they embed IPv4 addresses), discard, documentation, unique-local, link-local, site-local and multicast.
for (const [network, prefix] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['2001::', 32], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]
] as const) NOT_PUBLIC.addSubnet(network, prefix, 'ipv6')

export class DestinationNotAllowedError extends Error {
  override name = 'DestinationNotAllowedError'
}

export class ResponseTooLargeError extends Error {
  override name = 'ResponseTooLargeError'
}

export function isPublicAddress (address: string): boolean {
  const family = isIP(address)
  return family !== 0 && !NOT_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * False when `url` is not http(s), or its host is a literal address that is not public: such a
 * forward is refused on arrival. A hostname is checked when the request connects (`safeLookup`).
 */
export function urlAllowed (url: string, privateDestinations: boolean): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  return parsedUrlAllowed(parsed, privateDestinations)
}

/** urlAllowed for a URL already parsed. */
export function parsedUrlAllowed (url: URL, privateDestinations: boolean): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  const host = bareHost(url.hostname)
  return privateDestinations || isIP(host) === 0 || isPublicAddress(host)
}

/** A host as URLs write it, without the brackets of an IPv6 literal, lower-cased. */
export const bareHost = (host: string): string => host.toLowerCase().replace(/^\[(.*)\]$/, '$1')

/**
 * The `lookup` for node:http requests: every address the name resolves to must be public, checked
 * where the socket connects, so a DNS answer that changes between a check and the connection
 * (rebinding) cannot slip through. Node calls no lookup for a literal address: see urlAllowed.
 */
export const safeLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true } satisfies LookupAllOptions, (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
    if (err !== null) {
      callback(err, '', 0)
      return
    }
    if (addresses.length === 0 || addresses.some(a => !isPublicAddress(a.address))) {
      callback(new DestinationNotAllowedError('the destination resolves to an address this node does not relay to'), '', 0)
      return
    }
    if (options.all === true) callback(null, addresses)
    else callback(null, addresses[0]?.address as string, addresses[0]?.family)
  })
}

export interface SafeRequestInit {
  method: 'GET' | 'POST'
  headers?: Record<string, string | number>
  body?: Buffer
  /** Whether loopback, private and other non-public addresses may be reached. */
  privateDestinations: boolean
  timeoutMs: number
  /**
   * Read the body of a 2xx answer, up to this many bytes (more fails the request). Without it no
   * body is read: a hostile server could make it endless, and most callers pass nothing on.
   */
  maxResponseBytes?: number
}

export interface SafeResponse { status: number, body: Buffer }

/**
 * One HTTP(S) request to a destination from outside (a relay's next hop, a push service, a did:web
 * host), under the destination rules. Redirects are not followed. Throws DestinationNotAllowedError
 * for an address the node may not reach, or the network's error.
 */
export async function safeRequest (url: string, init: SafeRequestInit): Promise<SafeResponse> {
  if (!urlAllowed(url, init.privateDestinations)) throw new DestinationNotAllowedError('this node does not connect to that destination')
  const { maxResponseBytes } = init
  return await new Promise<SafeResponse>((resolve, reject) => {
    const request = (new URL(url).protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: init.method,
      headers: { ...init.headers, ...(init.body === undefined ? {} : { 'content-length': init.body.length }) },
      signal: AbortSignal.timeout(init.timeoutMs),
      // A socket of its own each time: a pooled one would skip the address check of its connect.
      agent: false,
      ...(init.privateDestinations ? {} : { lookup: safeLookup })
    }, response => {
      const status = response.statusCode ?? 0
      if (maxResponseBytes === undefined || status < 200 || status >= 300) {
        response.destroy()
        resolve({ status, body: Buffer.alloc(0) })
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxResponseBytes) {
          response.destroy()
          reject(new ResponseTooLargeError(`the answer is larger than ${maxResponseBytes} bytes`))
          return
        }
        chunks.push(chunk)
      })
      response.on('end', () => { resolve({ status, body: Buffer.concat(chunks) }) })
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end(init.body)
  })
}
