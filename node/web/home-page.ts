/**
 * GET / for browsers: the node's name, its mediator DID, its out-of-band invitation as a QR code (SVG
 * made here, so it shows with scripts blocked), the endpoints, and live figures refreshed from
 * GET /home/live.json. Only totals: no client DID, nothing counted per client. Any other GET / (no
 * `Accept: text/html`) is answered as before, 404; DIDComm POSTs to / never reach this.
 */
import type { FastifyInstance } from 'fastify'
import type { Endpoints } from '../identity.ts'
import { LIVE_SCRIPT } from './live-script.ts'
import { ASSET_HEADERS, ASSET_PATH, acceptsHtml, escapeHtml, pageHtml, sendPage } from './page.ts'

/** How long one reading of the live figures is reused: pollers cannot make the store count more often. */
const LIVE_CACHE_MS = 2000

export interface HomeIdentity {
  did: string
  invitationUrl: string
  endpoints: Endpoints
}

/** The page's live figures; `uptime` already readable (the script shows what it gets). */
export interface LiveFigures {
  peers: number
  clients: number
  messagesWaiting: number
  relaysWaiting: number
  version: string
  uptime: string
}

export interface HomeSource {
  name: string
  /** Undefined while the node starts: its DID names the bound port, so it is made after listening. */
  identity(): HomeIdentity | undefined
  live(): Promise<LiveFigures>
}

const LIVE_LABELS: Array<[keyof LiveFigures, string]> = [
  ['peers', 'Mesh peers'],
  ['clients', 'Wallets served'],
  ['messagesWaiting', 'Messages waiting'],
  ['relaysWaiting', 'Relays in the outbox'],
  ['version', 'Version'],
  ['uptime', 'Uptime']
]

function copyable (id: string, text: string): string {
  return `<div class="box"><code id="${id}">${escapeHtml(text)}</code></div><button type="button" data-copy="${id}" hidden>copy</button>`
}

function homeHtml (name: string, identity: HomeIdentity, qr: string, live: LiveFigures): string {
  const { endpoints } = identity
  return pageHtml(name, `<header>
<h1>${escapeHtml(name)}</h1>
<p class="muted">A DIDComm v2 mediator of the didcomm-mesh network. Scan the code with your wallet to get mediation from this node.</p>
</header>
<section>
<h2>Invitation</h2>
${qr}
<details>
<summary>The invitation as a URL</summary>
${copyable('invitation', identity.invitationUrl)}
<p class="muted">Out-of-band invitation to request mediation; as JSON: <a href="oob">oob</a></p>
</details>
</section>
<section>
<h2>Status</h2>
<dl>
${LIVE_LABELS.map(([key, label]) => `<dt>${label}</dt><dd data-live="${key}">${escapeHtml(String(live[key]))}</dd>`).join('\n')}
</dl>
<p class="muted" id="live-note">as of page load</p>
</section>
<section>
<h2>Mediator DID</h2>
${copyable('did', identity.did)}
</section>
<section>
<h2>Endpoints</h2>
<dl>
<dt>HTTP</dt><dd><code>${escapeHtml(endpoints.http)}</code></dd>
<dt>WebSocket</dt><dd><code>${escapeHtml(endpoints.ws)}</code></dd>
<dt>libp2p</dt><dd><code>${escapeHtml(endpoints.libp2p)}</code></dd>
</dl>
</section>`, `<script src="home/live.js" defer></script>\n`)
}

/** Answers `load()` from one call at a time, reused for `ms`. */
function cachedFor<T> (ms: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number, value: Promise<T> } | undefined
  return async () => {
    if (last === undefined || Date.now() - last.at > ms) {
      const value = load()
      last = { at: Date.now(), value }
      // A failed reading is not reused.
      value.catch(() => { if (last?.value === value) last = undefined })
    }
    return await last.value
  }
}

export function registerHomePage (app: FastifyInstance, source: HomeSource): void {
  const live = cachedFor(LIVE_CACHE_MS, source.live)
  // The QR code changes only with the invitation (a new public URL): made once per URL.
  let qr: { url: string, svg: Promise<string> } | undefined
  const qrFor = async (url: string): Promise<string> => {
    if (qr?.url !== url) {
      qr = {
        url,
        // The QR library loads with the first home page a browser asks for, not with every node.
        svg: import('qrcode')
          .then(async ({ default: QRCode }) => await QRCode.toString(url, { type: 'svg', errorCorrectionLevel: 'L', margin: 4 }))
          .then(svg => svg.replace('<svg ', '<svg class="qr" role="img" aria-label="QR code of the invitation URL" '))
      }
    }
    return await qr.svg
  }

  app.get('/', async (request, reply) => {
    if (!acceptsHtml(request.headers.accept)) {
      reply.callNotFound()
      return reply
    }
    const identity = source.identity()
    if (identity === undefined) {
      reply.header('retry-after', '1')
      return await sendPage(reply, pageHtml(source.name, '<p>The node is starting; reload in a moment.</p>'), 503)
    }
    return await sendPage(reply, homeHtml(source.name, identity, await qrFor(identity.invitationUrl), await live()))
  })

  app.get(`${ASSET_PATH}/live.js`, async (_request, reply) => await reply.headers(ASSET_HEADERS).type('text/javascript; charset=utf-8').send(LIVE_SCRIPT))
  app.get(`${ASSET_PATH}/live.json`, async (_request, reply) => {
    return await reply.headers({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).send(await live())
  })
}
