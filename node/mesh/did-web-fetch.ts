/**
 * Fetching did:web documents for the resolver, under the relay's destination rules: a forward may
 * name any did:web as its next hop, and a JWE any did:web as its sender, before anything is
 * authenticated; a did:web names the host and port its document is fetched from, so without the
 * rules anyone could make the node connect into its own host or network, or to any port of any
 * host. HTTPS only, on the allowed ports only, no redirects, a time limit and a size cap; the
 * resolver caches what comes back and bounds how many fetches run at once.
 */
import { DidWebAnswerError } from '../../didcomm/did-web.ts'
import { DestinationNotAllowedError, ResponseTooLargeError, safeRequest } from './destination.ts'

export interface DidWebFetchInit {
  /** Whether loopback, private and other non-public addresses may be fetched from (as --relay-private-destinations). */
  privateDestinations?: boolean
  /** The ports a document may be fetched from (as --did-web-ports); 443 when unset. */
  ports?: readonly number[]
  timeoutMs?: number
  /** The largest document read; a larger one fails. */
  maxBytes?: number
}

/** A did:web document of the size real ones have (a few keys and services) with room to spare. */
export const DID_WEB_MAX_BYTES = 64 * 1024

export function createDidWebFetcher (init: DidWebFetchInit = {}): (url: string) => Promise<unknown> {
  const privateDestinations = init.privateDestinations ?? false
  const ports = new Set(init.ports ?? [443])
  const timeoutMs = init.timeoutMs ?? 5_000
  const maxBytes = init.maxBytes ?? DID_WEB_MAX_BYTES
  return async url => {
    if (!url.startsWith('https://') || !ports.has(Number(new URL(url).port || 443))) throw new DestinationNotAllowedError('this node does not fetch DID documents from that address')
    let answer
    try {
      answer = await safeRequest(url, { method: 'GET', headers: { accept: 'application/did+json, application/json' }, privateDestinations, timeoutMs, maxResponseBytes: maxBytes })
    } catch (err) {
      throw err instanceof ResponseTooLargeError ? new DidWebAnswerError(`the DID document is larger than ${maxBytes} bytes`) : err
    }
    if (answer.status !== 200) throw new DidWebAnswerError(`the DID document's server answered ${answer.status}`)
    try {
      return JSON.parse(answer.body.toString('utf8')) as unknown
    } catch {
      throw new DidWebAnswerError('the DID document is not JSON')
    }
  }
}
