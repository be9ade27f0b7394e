/**
 * What the node's HTML pages share: escaping, the page shell, the headers that lock a page down, and
 * the one stylesheet. Pages load nothing from elsewhere and run no inline code, so the policy allows
 * only this origin's script and stylesheet.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'

/** Where the pages' stylesheet and script are served (relative links, so a proxy may mount the node under a path). */
export const ASSET_PATH = '/home'

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin'
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text safe in HTML element content and quoted attribute values. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => ENTITIES[c] as string)
}

/** Whether a request's Accept header asks for HTML (a browser), with a quality above zero. */
export function acceptsHtml (accept: string | undefined): boolean {
  return (accept ?? '').split(',').some(part => {
    const [type, ...params] = part.split(';').map(p => p.trim().toLowerCase())
    if (type !== 'text/html') return false
    const q = params.find(p => p.startsWith('q='))
    return q === undefined || Number(q.slice(2)) > 0
  })
}

/** A whole page: `head` extra tags (after the stylesheet), `body` its content, both already escaped. */
export function pageHtml (title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="home/style.css">
${head}</head>
<body>
${body}
</body>
</html>
`
}

/** Seconds as the page shows them: `3d 4h`, `2h 5m`, `7m 12s`. */
export function readableDuration (seconds: number): string {
  const s = Math.floor(seconds)
  const days = Math.floor(s / 86_400)
  const hours = Math.floor(s % 86_400 / 3600)
  const minutes = Math.floor(s % 3600 / 60)
  if (days > 0) return `${days}d ${hours}h`
  if (hours > 0) return `${hours}h ${minutes}m`
  return `${minutes}m ${s % 60}s`
}

export async function sendPage (reply: FastifyReply, html: string, status = 200): Promise<FastifyReply> {
  return await reply.code(status).headers({ ...SECURITY_HEADERS, 'cache-control': 'no-store' }).type('text/html; charset=utf-8').send(html)
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #5b6470; --line: #d5dae0; --accent: #0b63ce; --bad: #c62828 }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --bg: #14171b; --muted: #9aa4b0; --line: #333a42; --accent: #5ea2f5; --bad: #ef6b6b } }
* { box-sizing: border-box }
body { margin: 0 auto; padding: 1rem; max-width: 44rem; font: 16px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg) }
h1 { font-size: 1.5rem; margin: .25rem 0 1rem }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem }
code, .mono { font-family: ui-monospace, monospace; font-size: .85rem; overflow-wrap: anywhere; word-break: break-all }
.box { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; margin: .25rem 0 }
.qr { display: block; width: 100%; max-width: 26rem; height: auto; margin: 0 auto; background: #fff; border-radius: .25rem }
.muted { color: var(--muted); font-size: .9rem }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; margin: 0 }
dt { color: var(--muted) }
dd { margin: 0; min-width: 0 }
summary { cursor: pointer; color: var(--accent); margin: .5rem 0 }
button { font: inherit; padding: .25rem .75rem; border: 1px solid var(--line); border-radius: .375rem; background: transparent; color: var(--accent); cursor: pointer }
table { border-collapse: collapse; width: 100% }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line) }
td.n { text-align: right; font-variant-numeric: tabular-nums }
svg.graph, svg.spark { display: block; width: 100%; height: auto; max-width: 32rem }
svg text { fill: var(--fg); font: 11px ui-monospace, monospace }
svg .edge { stroke: var(--line); stroke-width: 2 }
svg .self { fill: var(--accent) }
svg .peer { fill: var(--bg); stroke: var(--accent); stroke-width: 2 }
svg .line { fill: none; stroke: var(--accent); stroke-width: 1.5 }
svg .fail { fill: var(--bad) }
`

/** Headers of the files the pages load (the stylesheet, the home page's script): cached a little, never sniffed. */
export const ASSET_HEADERS = { 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' }

/** The pages' one stylesheet. */
export function registerStylesheet (app: FastifyInstance): void {
  app.get(`${ASSET_PATH}/style.css`, async (_request, reply) => await reply.headers(ASSET_HEADERS).type('text/css; charset=utf-8').send(STYLE))
}
