import { createECDH, createHash } from 'node:crypto'

/** A VAPID key pair (RFC 8292) as web-push takes it: base64url, the public key an uncompressed P-256 point. */
export interface VapidKeys {
  publicKey: string
  privateKey: string
}

/**
 * The node's VAPID key pair, derived from a node secret (nodeSecret(keys, 'vapid')) rather than kept
 * in a file or the store: every replica holding the same node-key.json signs with the same key, which
 * browsers bound their subscriptions to, and it outlives restarts and store copies with nothing to
 * back up. A secret that is not a valid P-256 scalar (odds ~2^-32) is hashed again.
 */
export function vapidKeys (secret: Buffer): VapidKeys {
  for (let round = 0; ; round++) {
    const scalar = round === 0 ? secret : createHash('sha256').update(secret).update(String(round)).digest()
    const ecdh = createECDH('prime256v1')
    try {
      ecdh.setPrivateKey(scalar)
    } catch {
      continue
    }
    return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: scalar.toString('base64url') }
  }
}
