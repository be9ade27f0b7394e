/**
 * GET /status: the operator's view of this node in the mesh (its peers as a graph, route lookups and
 * failures, the outbox per next hop, the latency of the latest relays). Registered only when an
 * operator token is configured; a browser sends it as the password of HTTP Basic auth (any user
 * name), a script as a Bearer token. Mediators appear as keyed hashes, as in the logs.
 */
import type { FastifyInstance } from 'fastify'
import { sameToken } from '../admin.ts'
import type { RelaySample } from '../metrics.ts'
import type { OutboxStats } from '../mesh/outbox.ts'
import type { RouteStats } from '../mesh/routes.ts'
import { escapeHtml, pageHtml, readableDuration, sendPage } from './page.ts'
import { peerGraph, shortPeerId, sparkline } from './svg.ts'

const STATUS_PATH = '/status'
/** The page reloads itself this often (a meta refresh: no script needed). */
const REFRESH_SECONDS = 10

export interface MeshView {
  peerId: string
  /** Peer IDs of the connected peers. */
  peers: string[]
  routes: RouteStats
  outbox: OutboxStats
  hops: Array<{ peer?: string, /** the mediator DID's keyed hash */ mediator: string, waiting: number, failures: number, sending: boolean, retryInMs?: number }>
  relays: readonly RelaySample[]
}

/** The token from `Authorization: Basic base64(user:token)` or `Bearer token`; a reason when there is none. */
function givenToken (header: string | undefined): { token: string } | { error: string } {
  if (header === undefined || header === '') return { error: 'the status token is needed: HTTP Basic auth with the token as password, or a Bearer token' }
  const [scheme = '', value = ''] = header.split(' ')
  if (scheme.toLowerCase() === 'bearer' && value !== '') return { token: value }
  if (scheme.toLowerCase() === 'basic' && value !== '') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon >= 0) return { token: decoded.slice(colon + 1) }
  }
  return { error: 'the Authorization header must be Basic (user:token) or Bearer (token)' }
}

const ms = (seconds: number): string => `${(seconds * 1000).toFixed(1)} ms`

function relaySummary (relays: readonly RelaySample[]): string {
  if (relays.length === 0) return 'No relay attempts since the node started.'
  const sorted = relays.map(r => r.seconds).sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] as number
  const failed = relays.filter(r => r.outcome !== 'accepted').length
  const span = readableDuration((Date.now() - (relays[0] as RelaySample).at) / 1000)
  return `Last ${relays.length} relay attempt${relays.length === 1 ? '' : 's'}, over ${span}: median ${ms(median)}, slowest ${ms(sorted[sorted.length - 1] as number)}, ${failed} not accepted.`
}

/** What a hop is doing: a hop neither sending nor waiting for a retry while messages wait is stuck. */
function hopState (hop: MeshView['hops'][number]): string {
  if (hop.sending) return 'sending'
  if (hop.retryInMs !== undefined) return `retry in ${readableDuration(hop.retryInMs / 1000)}`
  return 'idle'
}

function statusHtml (view: MeshView): string {
  const { routes, outbox } = view
  const lookups = Object.entries(routes.lookups).map(([source, n]) => `<tr><td>${escapeHtml(source)}</td><td class="n">${n}</td></tr>`).join('')
  const hops = view.hops.length === 0
    ? '<p class="muted">Nothing waits to be relayed.</p>'
    : `<table><tr><th>Next hop</th><th>Mediator</th><th>Waiting</th><th>Failed rounds</th><th>Now</th></tr>${view.hops.map(hop =>
      `<tr><td class="mono"${hop.peer === undefined ? '>HTTP or no route' : ` title="${escapeHtml(hop.peer)}">${escapeHtml(shortPeerId(hop.peer))}`}</td><td class="mono">${escapeHtml(hop.mediator)}</td><td class="n">${hop.waiting}</td><td class="n">${hop.failures}</td><td>${hopState(hop)}</td></tr>`).join('')}</table>`
  return pageHtml('didcomm-mesh status', `<h1>Mesh status</h1>
<p class="muted">This node: <code>${escapeHtml(view.peerId)}</code>. Refreshes every ${REFRESH_SECONDS} s.</p>
<section>
<h2>Peers (${view.peers.length})</h2>
${peerGraph(view.peerId, view.peers)}
</section>
<section>
<h2>Route lookups</h2>
<table><tr><th>Answered from</th><th>Lookups</th></tr>${lookups}
<tr><td>failed</td><td class="n">${routes.failures}</td></tr>
<tr><td>unproven providers ignored</td><td class="n">${routes.unprovenProviders}</td></tr></table>
</section>
<section>
<h2>Outbox (${outbox.depth} waiting)</h2>
<p class="muted">Delivered ${outbox.delivered}, rejected ${outbox.rejected}, expired ${outbox.expired}, given up ${outbox.exhausted}, retries ${outbox.retries}.</p>
${hops}
</section>
<section>
<h2>Relay latency</h2>
${sparkline(view.relays)}
<p class="muted">${relaySummary(view.relays)}</p>
</section>`, `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">\n`)
}

export function registerStatusPage (app: FastifyInstance, token: string, view: () => MeshView): void {
  app.get(STATUS_PATH, async (request, reply) => {
    const given = givenToken(request.headers.authorization)
    if ('error' in given || !sameToken(given.token, token)) {
      const reason = 'error' in given ? given.error : 'wrong status token'
      reply.header('www-authenticate', 'Basic realm="didcomm-mesh status", charset="UTF-8"')
      return await sendPage(reply, pageHtml('didcomm-mesh status', `<p>${escapeHtml(reason)}</p>`), 401)
    }
    return await sendPage(reply, statusHtml(view()))
  })
}
