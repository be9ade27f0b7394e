import { generateKeyPairSync } from 'node:crypto'
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { toString } from 'uint8arrays'
import { sublevel } from './database.ts'
import type { Database, Sublevel } from './database.ts'

export interface OkpPrivateJwk { kty: 'OKP', crv: 'X25519' | 'Ed25519', x: string, d: string }

/** The node's long-lived private keys. Kept in a 0600 file so an operator can back it up on its own. */
export interface NodeKeys {
  keyAgreement: OkpPrivateJwk
  authentication: OkpPrivateJwk
  /** libp2p Ed25519 private key, protobuf, base64 */
  libp2p: string
}

export const NODE_KEY_FILE = 'node-key.json'

export function generateOkpKey (crv: 'X25519' | 'Ed25519'): OkpPrivateJwk {
  const { privateKey } = crv === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  return { kty: 'OKP', crv, x: String(jwk.x), d: String(jwk.d) }
}

/** Loads the node's keys from the data dir, generating and saving them on first start. */
export async function loadOrCreateNodeKeys (dataDir: string): Promise<NodeKeys> {
  const path = join(dataDir, NODE_KEY_FILE)
  try {
    return JSON.parse(await readFile(path, 'utf8')) as NodeKeys
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const keys: NodeKeys = {
    keyAgreement: generateOkpKey('X25519'),
    authentication: generateOkpKey('Ed25519'),
    libp2p: toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64')
  }
  await mkdir(dataDir, { recursive: true })
  // Write then rename, so a crash never leaves a half-written key file behind.
  await writeFile(path + '.tmp', JSON.stringify(keys, null, 2), { mode: 0o600 })
  await rename(path + '.tmp', path)
  return keys
}

/**
 * Every mediator DID this node has had, oldest first. A new public URL makes a new did:peer:2, but
 * wallets' pairwise DIDs name the old one, so the node keeps answering to all of them.
 */
export async function rememberMediatorDid (db: Database, did: string): Promise<string[]> {
  const meta: Sublevel = sublevel(db, 'meta')
  const known = (await meta.get('mediator-dids') as string[] | undefined) ?? []
  if (known.includes(did)) return known
  const all = [...known, did]
  await db.batch([{ type: 'put', sublevel: meta, key: 'mediator-dids', value: all }], { sync: true })
  return all
}
