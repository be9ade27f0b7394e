import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import { AdminCommandError, call, tokenFor, withAdminOptions } from './admin-client.ts'
import type { AdminOptions } from './admin-client.ts'

/**
 * `didcomm-mesh backup <dir>`: the running node holds its LevelDB (one process at a time), so it
 * writes the snapshot itself, asked through its admin API; <dir> is on the node's host.
 */
export function addBackupCommand (program: Command, configFrom: (command: Command) => Config, loadKeys: (config: Config) => Promise<NodeKeys>): void {
  withAdminOptions(program.command('backup <dir>').description("have the running node write a consistent copy of its LevelDB store and node key into a new directory <dir> on its host: a data dir to start a node on"))
    .action(async (dir: string, opts: AdminOptions, command: Command) => {
      const config = configFrom(command)
      if (config.store !== undefined) throw new AdminCommandError('the store is PostgreSQL (--store): back it up with pg_dump, and node-key.json apart (docs/operating.md)', 2)
      const token = await tokenFor(config, loadKeys)
      const { status, body } = await call(opts, token, '/backup', { method: 'POST', body: JSON.stringify({ directory: resolve(dir) }) })
      if (status === 400 || status === 409) throw new AdminCommandError(String(body.error), 2)
      if (status !== 200) throw new AdminCommandError(`the node at ${opts.url} answered HTTP ${status}${typeof body.error === 'string' ? `: ${body.error}` : ''}`, 1)
      if (opts.json === true) console.log(JSON.stringify(body, null, 2))
      else console.log(`backed up ${String(body.records)} records and the node key into ${String(body.directory)}`)
    })
}
