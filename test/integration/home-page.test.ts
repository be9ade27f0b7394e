/**
 * The home page in a real browser (headless Chromium): its QR code, read back from a screenshot,
 * is the node's invitation and gets a wallet mediation; its live figures follow a real forward
 * without a reload; it loads nothing from outside the node and breaks no rule of its own
 * Content-Security-Policy; it fits a 375-pixel screen; it works with scripts blocked. GET / for
 * anything but a browser is answered as before, and `--home-page false` turns the page off.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import jsqr from 'jsqr'
import { PNG } from 'pngjs'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { MeshAgent } from '../../client/index.ts'
import { parseInvitationUrl } from '../../protocols/out-of-band/messages.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { TestAgent, sendTo } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const NAME = 'Mediator <Ünterwegs> & Co'

/** The text of a QR code in a PNG screenshot; undefined when none can be read. */
function decodeQr (png: Buffer): string | undefined {
  const image = PNG.sync.read(png)
  // jsqr is CommonJS whose typings declare an ES default export; at run time that is a property of module.exports too.
  return jsqr.default(new Uint8ClampedArray(image.data), image.width, image.height)?.data
}

interface Visit { page: Page, requests: string[], problems: string[] }

describe('the home page', () => {
  const nodes = testNodes('didcomm-mesh-home-')
  let browser: Browser
  let home: TestNode

  /** Opens the home page in a fresh context, recording every request the page makes and every console error (CSP violations among them). */
  async function visit (options: BrowserContextOptions = {}): Promise<Visit> {
    const context = await browser.newContext(options)
    const page = await context.newPage()
    const requests: string[] = []
    const problems: string[] = []
    page.on('request', request => { requests.push(request.url()) })
    page.on('console', message => { if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text()) })
    page.on('pageerror', err => { problems.push(err.message) })
    const response = await page.goto(`${home.url}/`)
    assert.equal(response?.status(), 200)
    return { page, requests, problems }
  }

  before(async () => {
    browser = await launchBrowser()
    home = await nodes.start({ nodeName: NAME })
  })
  after(async () => {
    await browser.close()
    await nodes.stopAll()
  })

  it("shows the node's invitation as a QR code that decodes to its invitation URL, and a wallet gets mediation with it", async () => {
    const { page, requests, problems } = await visit({ viewport: { width: 1024, height: 900 } })
    assert.equal(await page.locator('h1').textContent(), NAME, 'the name, escaped')
    const scanned = decodeQr(await page.locator('svg.qr').screenshot())
    assert.equal(scanned, home.node.invitation().url)
    assert.equal(await page.locator('#invitation').textContent(), scanned)
    assert.equal(await page.locator('#did').textContent(), home.did)
    assert.equal(await page.locator('dd code').first().textContent(), home.info.endpoints.http)
    const invitation = parseInvitationUrl(scanned as string)
    assert.equal(invitation.from, home.did)
    assert.deepEqual(invitation.body, { goal_code: 'request-mediate', goal: 'Request mediation', label: NAME, accept: ['didcomm/v2'] })
    const oob = await (await fetch(`${home.url}/oob`)).json() as { url: string }
    assert.equal(oob.url, scanned, 'GET /oob serves the same invitation')

    const wallet = await MeshAgent.open(await nodes.dir())
    const granted = await wallet.connect(scanned as string)
    assert.equal(granted.did, home.did)

    // One refresh of the live figures, so that the script's own requests are counted too.
    await waitFor(() => requests.some(url => url.endsWith('/home/live.json')) ? true : undefined, 15_000, 'a refresh of the live figures')
    const origin = new URL(home.url).origin
    assert.deepEqual(requests.filter(url => new URL(url).origin !== origin), [], 'no request outside the node')
    assert.deepEqual(new Set(requests.map(url => new URL(url).pathname)), new Set(['/', '/home/style.css', '/home/live.js', '/home/live.json']))
    assert.deepEqual(problems, [], 'no console error: nothing the Content-Security-Policy refused')
    assert.equal(await page.locator('button[data-copy="did"]').isVisible(), true, 'the script shows the copy buttons')
  })

  it('serves the page under a strict Content-Security-Policy, and GET / as before to anything but a browser', async () => {
    const page = await fetch(`${home.url}/?_oob=scanned-by-a-camera`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    const csp = page.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/)
    const html = await page.text()
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]|<style|\sstyle="|\son[a-z]+="/, 'no inline script, style or handler')
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no asset from elsewhere')

    for (const accept of [undefined, 'application/json', 'application/didcomm-encrypted+json', 'text/html;q=0']) {
      const res = await fetch(`${home.url}/`, { headers: accept === undefined ? {} : { accept } })
      assert.equal(res.status, 404, `Accept: ${accept}`)
      assert.deepEqual(await res.json(), { message: 'Route GET:/ not found', error: 'Not Found', statusCode: 404 })
    }
  })

  it('updates the live figures without a reload when a forward arrives', async () => {
    const { page, problems } = await visit()
    const figure = async (name: string): Promise<number> => Number(await page.locator(`[data-live="${name}"]`).textContent())
    const before = { clients: await figure('clients'), waiting: await figure('messagesWaiting') }
    await page.evaluate(() => { (globalThis as { loadedOnce?: boolean }).loadedOnce = true })

    const { pairwise } = await TestAgent.mediatedWallet(home)
    await sendTo(home, pairwise, 'seen on the home page')
    await waitFor(async () => await figure('messagesWaiting') === before.waiting + 1 ? true : undefined, 20_000, 'the waiting count on the page to go up')
    assert.equal(await figure('clients'), before.clients + 1)
    assert.equal(await page.evaluate(() => (globalThis as { loadedOnce?: boolean }).loadedOnce), true, 'the page was not reloaded')
    assert.match(await page.locator('#live-note').textContent() ?? '', /^updated /)
    assert.deepEqual(problems, [])
  })

  it('fits a 375-pixel-wide phone screen: the QR code whole, no horizontal scrolling', async () => {
    const { page } = await visit({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    const widths = await page.evaluate('({ scroll: document.documentElement.scrollWidth, view: window.innerWidth })') as { scroll: number, view: number }
    assert.equal(widths.view, 375)
    assert.ok(widths.scroll <= widths.view, `page ${widths.scroll} px wide`)
    const box = await page.locator('svg.qr').boundingBox()
    assert.ok(box !== null && box.x >= 0 && box.x + box.width <= 375 && box.width >= 300, `QR code at ${JSON.stringify(box)}`)
    assert.equal(decodeQr(await page.locator('svg.qr').screenshot()), home.node.invitation().url)
  })

  it('works with scripts blocked: the QR code and the figures are in the page itself', async () => {
    const { page, requests } = await visit({ javaScriptEnabled: false })
    assert.equal(decodeQr(await page.locator('svg.qr').screenshot()), home.node.invitation().url)
    assert.match(await page.locator('[data-live="version"]').textContent() ?? '', /^\d+\.\d+\.\d+/)
    assert.equal(await page.locator('button[data-copy]').first().isVisible(), false, 'copy buttons stay hidden without the script')
    assert.ok(!requests.some(url => url.endsWith('/home/live.json')))
  })

  it('is not served with --home-page false; DIDComm and /oob are', async () => {
    const plain = await nodes.start({ homePage: false })
    for (const path of ['/', '/home/live.json', '/home/live.js', '/home/style.css']) {
      assert.equal((await fetch(`${plain.url}${path}`, { headers: { accept: 'text/html' } })).status, 404, path)
    }
    assert.equal((await fetch(`${plain.url}/oob`)).status, 200)
    const { pairwise } = await TestAgent.mediatedWallet(plain)
    await sendTo(plain, pairwise, 'no page, still a mediator')
  })
})
