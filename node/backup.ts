import { constants } from 'node:fs'
import { copyFile, readdir } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { NODE_KEY_FILE } from '../storage/node-key-file.ts'
import type { Store } from '../storage/store.ts'

/** The directory cannot take a backup (the admin API answers 400). */
export class BackupRefusedError extends Error {
  override name = 'BackupRefusedError'
}

/** What is already in `directory`: nothing when it does not exist yet. */
async function entriesOf (directory: string): Promise<string[]> {
  try {
    return await readdir(directory)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new BackupRefusedError(`${directory} cannot be used: ${(err as Error).message}`)
  }
}

/**
 * Backs the running node up into `directory` (on its own host, new or empty): a snapshot of its store
 * and its key file, so a node started with `--data-dir <directory>` is this node as it was then.
 * Undefined for a store that makes no backups of its own (PostgreSQL: pg_dump does).
 */
export function nodeBackup (store: Store, dataDir: string): ((directory: string) => Promise<{ directory: string, records: number }>) | undefined {
  const backup = store.backup?.bind(store)
  if (backup === undefined) return undefined
  return async directory => {
    if (!isAbsolute(directory)) throw new BackupRefusedError('the directory must be an absolute path on the node\'s host')
    if ((await entriesOf(directory)).length > 0) throw new BackupRefusedError(`${directory} is not empty: back up into a new directory`)
    const { records } = await backup(directory)
    // A node given its key by DIDCOMM_MESH_NODE_KEY has no key file: its key is the operator's secret already.
    await copyFile(join(dataDir, NODE_KEY_FILE), join(directory, NODE_KEY_FILE), constants.COPYFILE_EXCL).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
    return { directory, records }
  }
}
