import { serialized } from '../concurrency.ts'
import type { PushDevices, PushKind, PushRegistration } from '../store.ts'
import { KEY_SEPARATOR, readKey, sublevel } from './database.ts'
import type { BatchOperation, Database, GroupCommit, Sublevel } from './database.ts'

const byAge = (a: PushRegistration, b: PushRegistration): number => a.registeredAt - b.registeredAt || (a.id < b.id ? -1 : 1)

/**
 * Push registrations: client␀id → registration, and id → client to remove one by id. Changes run one
 * at a time, each checking the client's grant first: with the revoke's clear() after the grant is
 * gone, no registration outlives its mediation.
 */
export function createLevelPushDevices (db: Database, commit: GroupCommit, holdsMediation: (client: string) => Promise<boolean>): PushDevices {
  const devices: Sublevel = sublevel(db, 'push-devices')
  const ids: Sublevel = sublevel(db, 'push-ids')
  const exclusive = serialized()

  async function list (client: string, kind?: PushKind): Promise<PushRegistration[]> {
    const found: PushRegistration[] = []
    for await (const value of devices.values({ gt: client + KEY_SEPARATOR, lt: client + KEY_SEPARATOR + '\xff' })) {
      const registration = value as PushRegistration
      if (kind === undefined || registration.kind === kind) found.push(registration)
    }
    return found.sort(byAge)
  }

  const deletions = (registrations: readonly PushRegistration[]): BatchOperation[] => registrations.flatMap(r => [
    { type: 'del' as const, sublevel: devices, key: r.client + KEY_SEPARATOR + r.id },
    { type: 'del' as const, sublevel: ids, key: r.id }
  ])

  return {
    async register (registration, maxPerClient) {
      return await exclusive(async () => {
        if (!await holdsMediation(registration.client)) return undefined
        const held = await list(registration.client)
        const same = held.find(r => r.kind === registration.kind && r.token === registration.token)
        const stored: PushRegistration = { ...registration, id: same?.id ?? registration.id }
        const others = held.filter(r => r !== same)
        const dropped = others.slice(0, Math.max(0, others.length + 1 - maxPerClient))
        await commit.write([
          ...deletions(dropped),
          { type: 'put', sublevel: devices, key: stored.client + KEY_SEPARATOR + stored.id, value: stored },
          { type: 'put', sublevel: ids, key: stored.id, value: stored.client }
        ])
        return stored
      })
    },

    list,

    async clear (client, kind) {
      return await exclusive(async () => {
        const gone = await list(client, kind)
        if (gone.length > 0) await commit.write(deletions(gone))
        return gone.length
      })
    },

    async remove (id) {
      return await exclusive(async () => {
        const client = await readKey(ids, id) as string | undefined
        if (client === undefined) return false
        await commit.write([{ type: 'del', sublevel: devices, key: client + KEY_SEPARATOR + id }, { type: 'del', sublevel: ids, key: id }])
        return true
      })
    },

    async * entries () {
      for await (const value of devices.values()) yield value as PushRegistration
    }
  }
}
