import { bareHost, parsedUrlAllowed } from '../mesh/destination.ts'

/** Which Web Push endpoints the node posts to: the URL comes from a client, so only push services the operator allows. */
export interface PushEndpointPolicy {
  /** Host names, `*.domain` (its subdomains) or IP addresses. */
  hosts: readonly string[]
  /** Plain http, and loopback, private and other non-public addresses (tests, a LAN push service). */
  privateDestinations: boolean
}

function hostListed (host: string, hosts: readonly string[]): boolean {
  return hosts.some(entry => {
    const pattern = bareHost(entry)
    return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern
  })
}

/**
 * Whether the node may post a push to `endpoint`: https (http too with private destinations), no
 * credentials, a host on the allow-list, and not a non-public address unless allowed. A host name's
 * addresses are checked again when the push connects (safeRequest).
 */
export function pushEndpointAllowed (endpoint: string, policy: PushEndpointPolicy): boolean {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return false
  }
  if (url.protocol !== 'https:' && !(policy.privateDestinations && url.protocol === 'http:')) return false
  if (url.username !== '' || url.password !== '') return false
  return hostListed(bareHost(url.hostname), policy.hosts) && parsedUrlAllowed(url, policy.privateDestinations)
}
