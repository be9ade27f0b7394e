import { LevelDatastore } from 'datastore-level'
import type { Level } from 'level'
import type { Database } from './database.ts'

/**
 * libp2p's datastore (peer store, DHT records) on a sublevel of the node's one LevelDB, so a
 * restarted node remembers its peers and provider records.
 */
export async function createLibp2pDatastore (db: Database): Promise<LevelDatastore> {
  const part = db.sublevel<string, Uint8Array>('libp2p', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const datastore = new LevelDatastore(part as unknown as Level<string, Uint8Array>)
  await datastore.open()
  return datastore
}
