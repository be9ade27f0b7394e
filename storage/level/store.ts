import type { Store, StoreLimits } from '../store.ts'
import { backupDatabase } from './backup.ts'
import { GroupCommit, openDatabase, sublevel } from './database.ts'
import { createLibp2pDatastore } from './datastore.ts'
import { createLevelUsedInvitations } from './invitations.ts'
import { createLevelMailbox } from './mailbox.ts'
import { createLevelMediations } from './mediations.ts'
import { createLevelOutbox } from './outbox.ts'
import { createLevelPushDevices } from './push.ts'

/**
 * The embedded store: one LevelDB directory, a sublevel per concern, and one group commit shared
 * by all of them, so that a burst of forwards, acknowledgements and relays costs one fsync.
 */
export async function openLevelStore (directory: string, limits: StoreLimits): Promise<Store> {
  const db = await openDatabase(directory)
  const commit = new GroupCommit(db)
  const meta = sublevel(db, 'meta')
  const mediatorDids = async (): Promise<string[]> => (await meta.get('mediator-dids') as string[] | undefined) ?? []
  const mediations = createLevelMediations(db, commit)
  const pushDevices = createLevelPushDevices(db, commit, async client => await mediations.get(client) !== undefined)
  return {
    mailbox: createLevelMailbox(db, commit, limits.mailbox),
    mediations: {
      ...mediations,
      // The grant goes first: from then on no registration is admitted, and the clear takes the rest.
      async revoke (client) {
        const removed = await mediations.revoke(client)
        if (removed !== undefined) await pushDevices.clear(client)
        return removed
      }
    },
    outbox: createLevelOutbox(db, commit),
    usedInvitations: createLevelUsedInvitations(db, commit),
    pushDevices,
    state: {
      async rememberMediatorDid (did) {
        const known = await mediatorDids()
        if (known.includes(did)) return known
        const all = [...known, did]
        await commit.write([{ type: 'put', sublevel: meta, key: 'mediator-dids', value: all }])
        return all
      },
      mediatorDids
    },
    // One process opens a LevelDB: it delivers its own mail.
    signals: { announce: () => {}, listen: () => () => {} },
    datastore: await createLibp2pDatastore(db),
    shared: false,
    isOpen: () => db.status === 'open',
    backup: async directory => ({ records: await backupDatabase(db, directory) }),
    close: async () => { await db.close() }
  }
}
