/**
 * Headless Chromium for the page tests: the build @sparticuz/chromium ships through npm (no apt step,
 * no browser download), driven by playwright-core. Background traffic of the browser's own is off,
 * so every request a test sees comes from the page.
 */
import chromium from '@sparticuz/chromium'
import { chromium as playwright } from 'playwright-core'
import type { Browser } from 'playwright-core'

export async function launchBrowser (): Promise<Browser> {
  return await playwright.launch({
    executablePath: await chromium.executablePath(),
    args: [...chromium.args, '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    headless: true
  })
}
