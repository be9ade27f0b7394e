import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { toString } from 'uint8arrays'
import { writeFileAtomic } from '../didcomm/atomic-file.ts'
import { generateOkpKey } from '../didcomm/keys.ts'
import type { DidKeys } from '../didcomm/keys.ts'

/** The node's long-lived private keys. Kept in a 0600 file so an operator can back it up on its own. */
export interface NodeKeys extends DidKeys {
  /** libp2p Ed25519 private key, protobuf, base64 */
  libp2p: string
}

export const NODE_KEY_FILE = 'node-key.json'
/** The environment variable holding the passphrase that encrypts node-key.json (never a flag: flags show in `ps`). */
export const KEY_PASSPHRASE_ENV = 'DIDCOMM_MESH_KEY_PASSPHRASE'
/**
 * The environment variable that may hold node-key.json's content instead of the file (a container
 * secret shared by replicas), sealed or not; the node then reads no key file and writes none.
 */
export const NODE_KEY_ENV = 'DIDCOMM_MESH_NODE_KEY'

/** The key file cannot be used: encrypted without a passphrase given, a wrong passphrase, or damaged. */
export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

/** node-key.json when a passphrase protects it: the keys JSON sealed with AES-256-GCM under an scrypt key. */
interface SealedKeys {
  encrypted: { kdf: 'scrypt', N: number, r: number, p: number, salt: string, cipher: 'aes-256-gcm', iv: string, tag: string, data: string }
}

const SCRYPT = { N: 32768, r: 8, p: 1 }

function sealKeys (keys: NodeKeys, passphrase: string): SealedKeys {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const key = scryptSync(passphrase, salt, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 })
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const data = Buffer.concat([cipher.update(JSON.stringify(keys)), cipher.final()])
  return { encrypted: { kdf: 'scrypt', ...SCRYPT, salt: salt.toString('base64'), cipher: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') } }
}

function openKeys (sealed: SealedKeys['encrypted'], passphrase: string): NodeKeys {
  const key = scryptSync(passphrase, Buffer.from(sealed.salt, 'base64'), 32, { N: sealed.N, r: sealed.r, p: sealed.p, maxmem: 64 * 1024 * 1024 })
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
  try {
    return JSON.parse(Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8')) as NodeKeys
  } catch (err) {
    throw new KeyFileError(`cannot open ${NODE_KEY_FILE}: wrong passphrase in ${KEY_PASSPHRASE_ENV}, or the file is damaged`, { cause: err })
  }
}

async function writeKeyFile (path: string, content: NodeKeys | SealedKeys): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(content, null, 2))
}

/** The keys in a key file's content, opening it with `passphrase` (undefined: none given) when it is sealed. */
function keysFrom (content: NodeKeys | SealedKeys, passphrase: string | undefined): NodeKeys {
  if (!('encrypted' in content)) return content
  if (passphrase === undefined) throw new KeyFileError(`${NODE_KEY_FILE} is encrypted: set ${KEY_PASSPHRASE_ENV} to its passphrase`)
  return openKeys(content.encrypted, passphrase)
}

/**
 * A secret for one purpose (log hashing, invitation tokens, ...), derived from the node's private
 * keys: stable across restarts, different on every node, and useless for anything but its purpose.
 */
export function nodeSecret (keys: Pick<NodeKeys, 'keyAgreement'>, purpose: string): Buffer {
  return createHmac('sha256', Buffer.from(keys.keyAgreement.d, 'base64url')).update(`didcomm-mesh/${purpose}`).digest()
}

/** The keys in `content`, a key file's text given some other way (NODE_KEY_ENV), opened with `passphrase` when sealed. */
function keysGiven (content: string, passphrase: string | undefined): NodeKeys {
  let parsed: unknown
  try {
    parsed = JSON.parse(content)
  } catch {
    throw new KeyFileError(`${NODE_KEY_ENV} is not the content of a ${NODE_KEY_FILE}`)
  }
  if (typeof parsed !== 'object' || parsed === null) throw new KeyFileError(`${NODE_KEY_ENV} is not the content of a ${NODE_KEY_FILE}`)
  const keys = keysFrom(parsed as NodeKeys | SealedKeys, passphrase)
  if (typeof keys?.keyAgreement?.d !== 'string' || typeof keys.authentication?.d !== 'string' || typeof keys.libp2p !== 'string') {
    throw new KeyFileError(`${NODE_KEY_ENV} is not the content of a ${NODE_KEY_FILE}`)
  }
  return keys
}

/**
 * Loads the node's keys from the data dir, generating and saving them on first start. With a
 * passphrase the file is kept encrypted (a plaintext file is encrypted in place on first use).
 * `given` (NODE_KEY_ENV's value) replaces the file: nothing is read from the data dir or written there.
 */
export async function loadOrCreateNodeKeys (dataDir: string, passphrase?: string, given?: string): Promise<NodeKeys> {
  const path = join(dataDir, NODE_KEY_FILE)
  const sealWith = passphrase === '' ? undefined : passphrase
  if (given !== undefined && given !== '') return keysGiven(given, sealWith)
  let existing: NodeKeys | SealedKeys | undefined
  try {
    existing = JSON.parse(await readFile(path, 'utf8')) as NodeKeys | SealedKeys
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (existing !== undefined) {
    const keys = keysFrom(existing, sealWith)
    if (sealWith !== undefined && !('encrypted' in existing)) await writeKeyFile(path, sealKeys(keys, sealWith))
    return keys
  }
  const keys: NodeKeys = {
    keyAgreement: generateOkpKey('X25519'),
    authentication: generateOkpKey('Ed25519'),
    libp2p: toString(privateKeyToProtobuf(await generateKeyPair('Ed25519')), 'base64')
  }
  await mkdir(dataDir, { recursive: true })
  await writeKeyFile(path, sealWith === undefined ? keys : sealKeys(keys, sealWith))
  return keys
}
