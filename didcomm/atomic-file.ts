import { open, rename } from 'node:fs/promises'

/**
 * Replaces a file durably: a 0600 temp file, fsynced, renamed over the old one, so a crash leaves the
 * old content or the new, never part of either. The node's key file and the client's agent file (both
 * hold private keys) are written this way, hence it lives beside the DIDComm code both load.
 */
export async function writeFileAtomic (path: string, content: string): Promise<void> {
  const file = await open(path + '.tmp', 'w', 0o600)
  try {
    await file.writeFile(content)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(path + '.tmp', path)
}
