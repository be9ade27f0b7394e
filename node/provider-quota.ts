import type { PeerId } from '@libp2p/interface'
import { serialized } from '../storage/concurrency.ts'
import type { Datastore, Key } from 'interface-datastore'

/**
 * kad-dht keeps every provider record a peer announces (ADD_PROVIDER: one record per key and peer,
 * kept 48 h, in the node's LevelDB) and has no limit of its own. Its datastore therefore counts
 * them: at most `perPeer` records of one providing peer, and `total` of other peers' records in all
 * (peer IDs cost nothing to make, so the total is what bounds the disk). This node's own records
 * are never refused.
 */
export interface ProviderQuota {
  perPeer: number
  total: number
}

/** A mesh node provides its few mediator DIDs; a DHT node keeps the records of its ~20 closest keys' providers. */
export const PROVIDER_QUOTA: ProviderQuota = { perPeer: 64, total: 100_000 }

/** A provider record over the quota: kad-dht's ADD_PROVIDER handler fails, the record is not kept. */
export class ProviderQuotaError extends Error {
  override name = 'ProviderQuotaError'
}

/** Where kad-dht (default `datastorePrefix`) keeps provider records: `/dht/provider/<key>/<peer ID>`. */
const PROVIDERS = '/dht/provider/'

/**
 * `datastore`, with provider records counted per providing peer as kad-dht writes them (put) and
 * deletes them (delete: expiry, or this node's own withdrawal); kad-dht uses no other write for
 * them. Counts start from what is already stored.
 */
export async function boundProviderRecords (datastore: Datastore, self: PeerId, quota: ProviderQuota = PROVIDER_QUOTA): Promise<Datastore> {
  const own = self.toString()
  const perPeer = new Map<string, number>()
  let total = 0

  /** The providing peer of another peer's provider record; undefined for any other key. */
  function providerOf (key: Key): string | undefined {
    const text = key.toString()
    if (!text.startsWith(PROVIDERS)) return undefined
    const peer = text.slice(text.lastIndexOf('/') + 1)
    return peer === own ? undefined : peer
  }

  function count (peer: string, change: 1 | -1): void {
    const n = (perPeer.get(peer) ?? 0) + change
    if (n > 0) perPeer.set(peer, n)
    else perPeer.delete(peer)
    total += change
  }

  for await (const key of datastore.queryKeys({ prefix: PROVIDERS })) {
    const peer = providerOf(key)
    if (peer !== undefined) count(peer, 1)
  }

  // Check, write and count one record at a time, so concurrent writes of one key count it once.
  const serially = serialized()

  const put: Datastore['put'] = async (key, value, options) => {
    const peer = providerOf(key)
    if (peer === undefined) return await datastore.put(key, value, options)
    return await serially(async () => {
      const known = await datastore.has(key, options)
      if (!known && ((perPeer.get(peer) ?? 0) >= quota.perPeer || total >= quota.total)) {
        throw new ProviderQuotaError('provider record quota reached')
      }
      const stored = await datastore.put(key, value, options)
      if (!known) count(peer, 1)
      return stored
    })
  }

  const remove: Datastore['delete'] = async (key, options) => {
    const peer = providerOf(key)
    if (peer === undefined) { await datastore.delete(key, options); return }
    await serially(async () => {
      if (!await datastore.has(key, options)) return
      await datastore.delete(key, options)
      count(peer, -1)
    })
  }

  return new Proxy(datastore, {
    get (target, property) {
      if (property === 'put') return put
      if (property === 'delete') return remove
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
