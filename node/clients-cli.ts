import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import type { ClientSummary } from './admin.ts'
import { AdminCommandError, call, tokenFor, withAdminOptions } from './admin-client.ts'
import type { AdminOptions } from './admin-client.ts'

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
