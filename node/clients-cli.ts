import { access } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { addConfigOptions } from '../config/cli-options.ts'
import type { Config } from '../config/schema.ts'
import { KEY_PASSPHRASE_ENV, NODE_KEY_FILE } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import { ADMIN_PATH, adminToken } from './admin.ts'
import type { ClientSummary } from './admin.ts'

/** A clients command failed; `exitCode` 1 for the node (unreachable, not found), 2 for usage or configuration. */
export class AdminCommandError extends Error {
  override name = 'AdminCommandError'
  readonly exitCode: number

  constructor (message: string, exitCode: number) {
    super(message)
    this.exitCode = exitCode
  }
}

interface AdminOptions { url: string, json?: boolean }

/** The admin token from the node's own key file, which must exist: a new key would only be refused. */
async function tokenFor (config: Config, loadKeys: (config: Config) => Promise<NodeKeys>): Promise<string> {
  try {
    await access(join(config.dataDir, NODE_KEY_FILE))
  } catch {
    throw new AdminCommandError(`no ${NODE_KEY_FILE} in ${config.dataDir}: --data-dir must be the node's data directory`, 2)
  }
  return adminToken(await loadKeys(config))
}

/** Calls the node's admin API; the parsed JSON answer and its status, or an AdminCommandError. */
async function call (opts: AdminOptions, token: string, path: string, init: RequestInit = {}): Promise<{ status: number, body: Record<string, unknown> }> {
  let url: URL
  try {
    url = new URL(ADMIN_PATH + path, opts.url)
  } catch {
    throw new AdminCommandError(`--url ${opts.url} is not a URL`, 2)
  }
  let res: Response
  try {
    res = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    throw new AdminCommandError(`cannot reach a node at ${opts.url}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`, 1)
  }
  if (res.status === 401) {
    throw new AdminCommandError(`the node at ${opts.url} refused the admin token (HTTP 401): --data-dir (and ${KEY_PASSPHRASE_ENV}, if set) must be that node's`, 2)
  }
  const body = await res.json().catch(() => ({})) as Record<string, unknown>
  return { status: res.status, body }
}

function withAdminOptions (command: Command): Command {
  return addConfigOptions(command
    .option('--url <url>', 'the running node\'s HTTP URL', 'http://127.0.0.1:8080')
    .option('--json', 'print JSON'))
}

/**
 * `didcomm-mesh clients list|revoke`: through the running node's admin API (the node holds the store),
 * authenticated with a token derived from the node key in --data-dir.
 */
export function addClientsCommands (program: Command, configFrom: (command: Command) => Config, loadKeys: (config: Config) => Promise<NodeKeys>): void {
  const clients = program.command('clients').description("a running node's mediated clients (needs its --data-dir, for the admin token)")

  withAdminOptions(clients.command('list').description('list the clients holding mediation: DID, grant time, recipient count'))
    .option('--limit <n>', 'most clients to list', '1000')
    .action(async (opts: AdminOptions & { limit: string }, command: Command) => {
      const token = await tokenFor(configFrom(command), loadKeys)
      const { status, body } = await call(opts, token, `/clients?limit=${encodeURIComponent(opts.limit)}`)
      if (status === 400) throw new AdminCommandError(`--limit: ${String(body.error)}`, 2)
      if (status !== 200) throw new AdminCommandError(`the node at ${opts.url} answered HTTP ${status}`, 1)
      const listed = body.clients as ClientSummary[]
      if (opts.json === true) console.log(JSON.stringify(body, null, 2))
      else console.log(listed.map(c => `${c.grantedAt}  ${String(c.recipients).padStart(5)} recipients  ${c.did}`).join('\n') || '(no clients)')
      if (body.truncated === true) console.error(`only the first ${listed.length}: raise --limit to see more`)
    })

  withAdminOptions(clients.command('revoke <did>').description("withdraw a client's mediation: its recipients, queued messages and live sessions go too"))
    .action(async (did: string, opts: AdminOptions, command: Command) => {
      const token = await tokenFor(configFrom(command), loadKeys)
      const { status, body } = await call(opts, token, '/clients/revoke', { method: 'POST', body: JSON.stringify({ did }) })
      if (status === 404) throw new AdminCommandError('no mediation for that DID on this node', 1)
      if (status === 400) throw new AdminCommandError(String(body.error), 2)
      if (status !== 200) throw new AdminCommandError(`the node at ${opts.url} answered HTTP ${status}`, 1)
      if (opts.json === true) console.log(JSON.stringify(body, null, 2))
      else console.log(`revoked: ${String(body.recipients)} recipients removed, ${String(body.messages)} queued messages deleted`)
    })
}
