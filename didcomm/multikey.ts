import { ed25519 } from '@noble/curves/ed25519.js'
import { concat, fromString, toString } from 'uint8arrays'

export type KeyType = 'Ed25519' | 'X25519'

export interface OkpJwk { kty: 'OKP', crv: KeyType, x: string }

/** A key string or JWK is not a 32-byte Ed25519 or X25519 public key in the expected encoding. */
export class MultikeyError extends Error {
  override name = 'MultikeyError'
}

// Varint-encoded multicodec prefixes: ed25519-pub (0xed) and x25519-pub (0xec).
const PREFIXES: Record<KeyType, Uint8Array> = {
  Ed25519: Uint8Array.of(0xed, 0x01),
  X25519: Uint8Array.of(0xec, 0x01)
}

function checkLength (publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new MultikeyError(`expected a 32-byte public key, got ${publicKey.length} bytes`)
  return publicKey
}

function decode (text: string, encoding: 'base58btc' | 'base64url'): Uint8Array {
  try {
    return fromString(text, encoding)
  } catch {
    throw new MultikeyError(`invalid ${encoding}: ${text.slice(0, 60)}`)
  }
}

/** `z6Mk...` for Ed25519, `z6LS...` for X25519. */
export function encodeMultikey (type: KeyType, publicKey: Uint8Array): string {
  return 'z' + toString(concat([PREFIXES[type], checkLength(publicKey)]), 'base58btc')
}

export function decodeMultikey (mb: string): { type: KeyType, publicKey: Uint8Array } {
  if (typeof mb !== 'string' || !mb.startsWith('z')) throw new MultikeyError(`not a base58btc multibase key: ${String(mb).slice(0, 60)}`)
  const bytes = decode(mb.slice(1), 'base58btc')
  const type = (['Ed25519', 'X25519'] as const).find(t => bytes[0] === PREFIXES[t][0] && bytes[1] === PREFIXES[t][1])
  if (type === undefined || bytes.length !== 34) throw new MultikeyError(`not an Ed25519 or X25519 multikey: ${mb.slice(0, 60)}`)
  return { type, publicKey: bytes.slice(2) }
}

export function publicKeyToJwk (type: KeyType, publicKey: Uint8Array): OkpJwk {
  return { kty: 'OKP', crv: type, x: toString(checkLength(publicKey), 'base64url') }
}

/** Validates an untrusted JWK as an OKP Ed25519 or X25519 public key. */
export function jwkToPublicKey (jwk: unknown): { type: KeyType, publicKey: Uint8Array } {
  const { kty, crv, x } = (typeof jwk === 'object' && jwk !== null ? jwk : {}) as Record<string, unknown>
  if (kty !== 'OKP' || (crv !== 'Ed25519' && crv !== 'X25519') || typeof x !== 'string') {
    throw new MultikeyError('expected an OKP JWK with crv Ed25519 or X25519')
  }
  return { type: crv, publicKey: checkLength(decode(x, 'base64url')) }
}

/** The X25519 key of an Ed25519 key's birational map, as did:key derives its keyAgreement key. */
export function ed25519ToX25519 (publicKey: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomery(checkLength(publicKey))
}

export function didKeyFromX25519 (publicKey: Uint8Array): string {
  return `did:key:${encodeMultikey('X25519', publicKey)}`
}
