import type { Store, StoreLimits } from '../store.ts'
import { backupDatabase } from './backup.ts'
import { GroupCommit, openDatabase, sublevel } from './database.ts'
import { createLibp2pDatastore } from './datastore.ts'
import { createLevelUsedInvitations } from './invitations.ts'
import { createLevelMailbox } from './mailbox.ts'
import { createLevelMediations } from './mediations.ts'
import { createLevelOutbox } from './outbox.ts'

/**
 * The embedded store: one LevelDB directory, a sublevel per concern, and one group commit shared
 * by all of them, so that a burst of forwards, acknowledgements and relays costs one fsync.
 */
export async function openLevelStore (directory: string, limits: StoreLimits): Promise<Store> {
  const db = await openDatabase(directory)
  const commit = new GroupCommit(db)
  const meta = sublevel(db, 'meta')
  const mediatorDids = async (): Promise<string[]> => (await meta.get('mediator-dids') as string[] | undefined) ?? []
  return {
    mailbox: createLevelMailbox(db, commit, limits.mailbox),
    mediations: createLevelMediations(db, commit),
    outbox: createLevelOutbox(db, commit),
    usedInvitations: createLevelUsedInvitations(db, commit),
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
