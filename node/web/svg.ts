/**
 * The operator page's drawings, rendered on the server as SVG (no script, no external asset): the
 * node and its peers as a star, and the latency of the latest relays as a sparkline. Colours come
 * from the stylesheet's classes (the page's policy allows no inline styles).
 */
import type { RelaySample } from '../metrics.ts'
import { escapeHtml } from './page.ts'

/** Peers drawn at most; more are counted under the graph. */
const GRAPH_MAX_PEERS = 24

/** A peer ID short enough to read: its last 8 characters (every Ed25519 peer ID starts with 12D3KooW). */
export function shortPeerId (peerId: string): string {
  return `…${peerId.slice(-8)}`
}

const round = (n: number): string => n.toFixed(1)

/** This node in the middle, each connected peer on a circle around it, titled with its full peer ID. */
export function peerGraph (self: string, peers: readonly string[]): string {
  const width = 400
  const height = 300
  const cx = width / 2
  const cy = height / 2
  const radius = 105
  const drawn = peers.slice(0, GRAPH_MAX_PEERS)
  const nodes = drawn.map((peer, i) => {
    const angle = 2 * Math.PI * i / drawn.length - Math.PI / 2
    const x = cx + radius * Math.cos(angle)
    const y = cy + radius * Math.sin(angle)
    // Labels point away from the centre, so they never cross the edges.
    const anchor = Math.abs(x - cx) < 1 ? 'middle' : x > cx ? 'start' : 'end'
    const lx = x + (anchor === 'start' ? 12 : anchor === 'end' ? -12 : 0)
    const ly = y + (anchor === 'middle' ? (y < cy ? -12 : 20) : 4)
    return `<g class="node"><title>${escapeHtml(peer)}</title><line class="edge" x1="${cx}" y1="${cy}" x2="${round(x)}" y2="${round(y)}"/>` +
      `<circle class="peer" cx="${round(x)}" cy="${round(y)}" r="8"/><text x="${round(lx)}" y="${round(ly)}" text-anchor="${anchor}">${escapeHtml(shortPeerId(peer))}</text></g>`
  })
  const more = peers.length > drawn.length ? `<text x="${width - 4}" y="${height - 6}" text-anchor="end">+${peers.length - drawn.length} more</text>` : ''
  const none = peers.length === 0 ? `<text x="${cx}" y="${cy + 32}" text-anchor="middle">no peers connected</text>` : ''
  return `<svg class="graph" viewBox="0 0 ${width} ${height}" role="img" aria-label="this node and its ${peers.length} connected peers">` +
    nodes.join('') +
    `<g class="node"><title>${escapeHtml(self)} (this node)</title><circle class="self" cx="${cx}" cy="${cy}" r="12"/></g>${none}${more}</svg>`
}

/** The latest relays' durations as a line (0 at the bottom, the slowest at the top), failed attempts as red dots. */
export function sparkline (samples: readonly RelaySample[]): string {
  const width = 300
  const height = 60
  if (samples.length === 0) return `<svg class="spark" viewBox="0 0 ${width} ${height}" role="img" aria-label="no relays yet"><text x="4" y="34">no relays yet</text></svg>`
  const slowest = Math.max(...samples.map(s => s.seconds), 1e-6)
  const step = samples.length > 1 ? width / (samples.length - 1) : 0
  const points = samples.map((s, i) => ({ x: samples.length > 1 ? i * step : width / 2, y: height - 4 - (s.seconds / slowest) * (height - 8), failed: s.outcome !== 'accepted' }))
  const line = points.map(p => `${round(p.x)},${round(p.y)}`).join(' ')
  const dots = points.filter(p => p.failed).map(p => `<circle class="fail" cx="${round(p.x)}" cy="${round(p.y)}" r="2.5"/>`).join('')
  return `<svg class="spark" viewBox="0 0 ${width} ${height}" role="img" aria-label="latency of the last ${samples.length} relays"><polyline class="line" points="${line}"/>${dots}</svg>`
}
