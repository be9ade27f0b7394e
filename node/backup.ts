import { constants } from 'node:fs'
import { copyFile, readdir } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { NODE_KEY_FILE } from '../storage/node-key-file.ts'
import type { Store } from '../storage/store.ts'

/** A backup the node will not make: `status` is the admin API's answer (400 a bad directory, 409 a store it cannot back up). */
export class BackupRefusedError extends Error {
  override name = 'BackupRefusedError'
  readonly status: 400 | 409

  constructor (message: string, status: 400 | 409) {
    super(message)
    this.status = status
  }
}

/** What is already in `directory`: nothing when it does not exist yet. */
async function entriesOf (directory: string): Promise<string[]> {
  try {
    return await readdir(directory)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new BackupRefusedError(`${directory} cannot be used: ${(err as Error).message}`, 400)
  }
}

/**
 * Backs the running node up into `directory` (on its own host, new or empty): a snapshot of its store
 * and its key file, so a node started with `--data-dir <directory>` is this node as it was then.
 */
export async function backupNode (store: Store, dataDir: string, directory: string): Promise<{ directory: string, records: number }> {
  if (store.backup === undefined) throw new BackupRefusedError('this node keeps its store in PostgreSQL: back the database up with pg_dump (docs/operating.md)', 409)
  if (!isAbsolute(directory)) throw new BackupRefusedError('the directory must be an absolute path on the node\'s host', 400)
  if ((await entriesOf(directory)).length > 0) throw new BackupRefusedError(`${directory} is not empty: back up into a new directory`, 400)
  const { records } = await store.backup(directory)
  await copyFile(join(dataDir, NODE_KEY_FILE), join(directory, NODE_KEY_FILE), constants.COPYFILE_EXCL)
  return { directory, records }
}
