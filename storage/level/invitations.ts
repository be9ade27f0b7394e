import { readKey, sublevel } from './database.ts'
import type { Database, GroupCommit, Sublevel } from './database.ts'
import type { UsedInvitations } from '../store.ts'

export function createLevelUsedInvitations (db: Database, commit: GroupCommit): UsedInvitations {
  // nonce → expiresAt (epoch ms)
  const used: Sublevel = sublevel(db, 'invitations-used')
  // Nonces between their check and their synced write, so two requests racing with one token cannot both pass.
  const claiming = new Set<string>()

  return {
    async use (nonce, expiresAt) {
      if (claiming.has(nonce)) return false
      claiming.add(nonce)
      try {
        if (await readKey(used, nonce) !== undefined) return false
        await commit.write([{ type: 'put', sublevel: used, key: nonce, value: expiresAt }])
        return true
      } finally {
        claiming.delete(nonce)
      }
    },

    async * entries () {
      for await (const [nonce, expiresAt] of used.iterator()) yield { nonce, expiresAt: expiresAt as number }
    },

    async sweep (now) {
      const expired: string[] = []
      for await (const [nonce, expiresAt] of used.iterator()) {
        if ((expiresAt as number) < now) expired.push(nonce)
      }
      if (expired.length > 0) await commit.write(expired.map(key => ({ type: 'del' as const, sublevel: used, key })))
      return expired.length
    }
  }
}
