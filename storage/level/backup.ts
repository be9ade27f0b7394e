import { Level } from 'level'
import type { Database } from './database.ts'

/** Records per write to the backup: bounds memory whatever the store's size. */
const BATCH_RECORDS = 1000

/**
 * Writes a copy of the open database into a new LevelDB in `directory`, while the node goes on
 * writing: one iterator over the whole database reads one snapshot, so every record (every sublevel's)
 * is as it was at one instant. Returns how many records it copied.
 */
export async function backupDatabase (db: Database, directory: string): Promise<number> {
  const backup = new Level<Buffer, Buffer>(directory, { keyEncoding: 'buffer', valueEncoding: 'buffer', errorIfExists: true })
  await backup.open()
  let records = 0
  try {
    let batch = backup.batch()
    for await (const [key, value] of db.iterator<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' })) {
      batch.put(key, value)
      records++
      if (batch.length >= BATCH_RECORDS) {
        await batch.write()
        batch = backup.batch()
      }
    }
    // Synced last: what came before is on disk with it.
    await batch.write({ sync: true })
  } finally {
    await backup.close()
  }
  return records
}
