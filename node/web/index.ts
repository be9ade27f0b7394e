import type { FastifyInstance } from 'fastify'
import { registerHomePage } from './home-page.ts'
import type { HomeSource } from './home-page.ts'
import { registerStylesheet } from './page.ts'
import { registerStatusPage } from './status-page.ts'
import type { MeshView } from './status-page.ts'

/** The node's pages for people: the home page unless turned off, the operator's mesh view when a token is set. */
export function registerWebPages (app: FastifyInstance, pages: { home?: HomeSource, status?: { token: string, view: () => MeshView } }): void {
  if (pages.home === undefined && pages.status === undefined) return
  registerStylesheet(app)
  if (pages.home !== undefined) registerHomePage(app, pages.home)
  if (pages.status !== undefined) registerStatusPage(app, pages.status.token, pages.status.view)
}
