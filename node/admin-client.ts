/**
 * The CLI's side of the admin API (`clients`, `backup`): the token derived from the node key in
 * --data-dir, and calls to the running node with their failures as AdminCommandErrors.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { addConfigOptions } from '../config/cli-options.ts'
import type { Config } from '../config/schema.ts'
import { KEY_PASSPHRASE_ENV, NODE_KEY_FILE } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import { ADMIN_PATH, adminToken } from './admin.ts'

/** An admin command failed: the node's doing (unreachable, not found) exits 1, usage or configuration 2. */
export class AdminCommandError extends Error {
  override name = 'AdminCommandError'
  readonly exitCode: 1 | 2

  constructor (message: string, exitCode: 1 | 2) {
    super(message)
    this.exitCode = exitCode
  }
}

export interface AdminOptions { url: string, json?: boolean }

/** The admin token from the node's own key file, which must exist: a new key would only be refused. */
export async function tokenFor (config: Config, loadKeys: (config: Config) => Promise<NodeKeys>): Promise<string> {
  try {
    await access(join(config.dataDir, NODE_KEY_FILE))
  } catch {
    throw new AdminCommandError(`no ${NODE_KEY_FILE} in ${config.dataDir}: --data-dir must be the node's data directory`, 2)
  }
  return adminToken(await loadKeys(config))
}

/** Calls the node's admin API; the parsed JSON answer and its status, or an AdminCommandError. */
export async function call (opts: AdminOptions, token: string, path: string, init: RequestInit = {}): Promise<{ status: number, body: Record<string, unknown> }> {
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

export function withAdminOptions (command: Command): Command {
  return addConfigOptions(command
    .option('--url <url>', 'the running node\'s HTTP URL', 'http://127.0.0.1:8080')
    .option('--json', 'print JSON'))
}
