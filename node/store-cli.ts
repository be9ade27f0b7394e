import { resolve } from 'node:path'
import type { Command } from 'commander'
import { addConfigOptions } from '../config/cli-options.ts'
import type { Config } from '../config/schema.ts'
import { COPY_LIMITS, copyStore } from '../storage/copy.ts'
import type { CopyReport } from '../storage/copy.ts'
import { levelDatabaseExists } from '../storage/level/database.ts'
import { migrateStoreAt } from '../storage/migrate.ts'
import { NoStoreError, isPostgresUrl, openStoreAt } from '../storage/open.ts'
import type { Store } from '../storage/store.ts'

/** A store named by `--from`/`--to`: a URL as it is, a directory made absolute (to compare the two). */
function placeOf (name: string): string {
  return isPostgresUrl(name) ? name : resolve(name)
}

function describeCopy (report: CopyReport): string {
  const copied = `copied ${report.clients} clients, ${report.recipients} recipients, ${report.messages} queued messages, ${report.outbox} outbox entries, ` +
    `${report.usedInvitations} used invitations, ${report.pushDevices} push devices, ${report.mediatorDids} mediator DIDs, ${report.libp2pRecords} libp2p records`
  const { messages, bytes } = report.leftBehind
  return messages === 0 ? copied : `${copied}\nleft behind: ${messages} messages (${bytes} bytes) queued for DIDs no client holds any more (nobody can pick them up)`
}

/**
 * `didcomm-mesh migrate`, to upgrade the configured store before rolling a new node out, and
 * `didcomm-mesh store copy`, to move a stopped node's store between LevelDB and PostgreSQL.
 */
export function addStoreCommands (program: Command, configFrom: (command: Command) => Config): void {
  addConfigOptions(program.command('migrate').description("bring the configured store (--store, else --data-dir's LevelDB) to this version's schema or layout, as start would, and print the version before and after"))
    .action(async (_opts, command: Command) => {
      const config = configFrom(command)
      const outcome = await migrateStoreAt(config.store ?? config.dataDir)
      const unchanged = outcome.before === outcome.after ? ' (already current)' : ''
      console.log(`${outcome.kind} version ${outcome.before ?? 'none'} → ${outcome.after}${unchanged}`)
    })

  program.command('store').description('move a store between LevelDB and PostgreSQL')
    .command('copy')
    .description('copy everything a store holds into an empty one; a store is a LevelDB data dir or a postgres:// URL. No node may run on either.')
    .requiredOption('--from <store>', 'the store to copy: a data dir or a postgres:// URL')
    .requiredOption('--to <store>', 'the empty store to copy into: a data dir (made if missing) or a postgres:// URL')
    .action(async (opts: { from: string, to: string }) => {
      const [from, to] = [placeOf(opts.from), placeOf(opts.to)]
      if (from === to) throw new NoStoreError('--from and --to name the same store')
      if (!isPostgresUrl(from) && !levelDatabaseExists(from)) throw new NoStoreError(`no LevelDB store in ${from}`)
      const opened: Store[] = []
      try {
        const source = await openStoreAt(from, COPY_LIMITS)
        opened.push(source)
        const target = await openStoreAt(to, COPY_LIMITS)
        opened.push(target)
        console.log(describeCopy(await copyStore(source, target)))
      } finally {
        for (const store of opened) await store.close()
      }
    })
}
