import { BlockList, isIP } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'

/** Which header the trusted proxies write the client's address into; the other one is ignored, since a client may have written it. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded'

export interface ClientAddressInit {
  /** Addresses and CIDRs of proxies whose forwarding headers are believed. */
  trustProxy: string[]
  header: ForwardedHeader
}

/** The client behind a request, and the scheme the nearest trusted proxy was reached by (when it says). */
export interface Client { address: string, proto?: string }

/** The client of a request, from the TCP peer and its headers. HTTP and the WebSocket upgrade use the same one. */
export type ClientAddress = (peer: string | undefined, headers: IncomingHttpHeaders) => Client

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is 10.0.0.1. */
function plain (address: string): string {
  return address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')
}

const unquote = (text: string): string => text.trim().replace(/^"(.*)"$/, '$1')

/** An RFC 7239 node name (`192.0.2.1`, `"[2001:db8::1]:4711"`, `198.51.100.7:80`) as a bare address; undefined for `unknown`, obfuscated names and junk. */
function nodeAddress (value: string): string | undefined {
  const text = unquote(value)
  const address = text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.replace(/:\d+$/, '')
  return isIP(address) === 0 ? undefined : plain(address)
}

interface Hop { address?: string, proto?: string }

/**
 * The hops a header lists, nearest proxy last. Elements are split at every comma, quotes or not:
 * a client's unbalanced quote then cannot swallow the element a trusted proxy appended after it.
 */
function hops (headers: IncomingHttpHeaders, header: ForwardedHeader): Hop[] {
  const value = headers[header]
  if (typeof value !== 'string') return []
  if (header === 'x-forwarded-for') return value.split(',').map(item => ({ address: nodeAddress(item) }))
  return value.split(',').map(element => {
    const pairs = new Map(element.split(';').flatMap(pair => {
      const at = pair.indexOf('=')
      return at < 0 ? [] : [[pair.slice(0, at).trim().toLowerCase(), unquote(pair.slice(at + 1))] as const]
    }))
    const forValue = pairs.get('for')
    return { address: forValue === undefined ? undefined : nodeAddress(forValue), proto: pairs.get('proto')?.toLowerCase() }
  })
}

/**
 * Behind trusted proxies, the client is the rightmost address in the forwarding header that is not
 * itself a trusted proxy: everything left of it was written by parties we do not trust. A request
 * from an untrusted peer is that peer, whatever its headers claim.
 */
export function createClientAddress (init: ClientAddressInit): ClientAddress {
  const trusted = new BlockList()
  for (const entry of init.trustProxy) {
    const [address = '', prefix] = entry.split('/')
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) trusted.addAddress(address, type)
    else trusted.addSubnet(address, Number(prefix), type)
  }
  const isTrusted = (address: string): boolean => trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')

  return (peer, headers) => {
    let address = plain(peer ?? '')
    if (init.trustProxy.length === 0 || isIP(address) === 0 || !isTrusted(address)) return { address }
    const listed = hops(headers, init.header)
    const nearest = headers['x-forwarded-proto']
    const proto = init.header === 'forwarded' ? listed.at(-1)?.proto : typeof nearest === 'string' ? nearest.split(',').at(-1)?.trim().toLowerCase() : undefined
    for (const hop of listed.reverse()) {
      // A hop a trusted proxy could not name ends the walk at that proxy.
      if (hop.address === undefined) break
      address = hop.address
      if (!isTrusted(address)) break
    }
    return proto === undefined ? { address } : { address, proto }
  }
}
