import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * A single-use mediation invitation, stateless so that `didcomm-mesh invite` can mint one while the
 * node holds the store: base64url(nonce ‖ expiry ‖ MAC) under the node's 'invite' secret. The node
 * checks MAC and expiry, and remembers used nonces until they expire.
 */
const NONCE_BYTES = 16
const EXPIRY_BYTES = 4 // epoch seconds, unsigned: good until 2106
const MAC_BYTES = 16
const TOKEN_BYTES = NONCE_BYTES + EXPIRY_BYTES + MAC_BYTES

export interface InvitationToken {
  /** base64url; what a used-token record is keyed by. */
  nonce: string
  /** epoch milliseconds */
  expiresAt: number
}

function mac (secret: Buffer, signed: Buffer): Buffer {
  return createHmac('sha256', secret).update(signed).digest().subarray(0, MAC_BYTES)
}

/** A new token valid until `expiresAt` (epoch ms, rounded down to the second). */
export function mintInvitationToken (secret: Buffer, expiresAt: number): string {
  const signed = Buffer.alloc(NONCE_BYTES + EXPIRY_BYTES)
  randomBytes(NONCE_BYTES).copy(signed)
  signed.writeUInt32BE(Math.floor(expiresAt / 1000), NONCE_BYTES)
  return Buffer.concat([signed, mac(secret, signed)]).toString('base64url')
}

/** The token's nonce and expiry when `text` is a token this node minted; 'expired' once past its expiry at `now`. */
export function verifyInvitationToken (secret: Buffer, text: string, now = Date.now()): InvitationToken | 'invalid' | 'expired' {
  // Checked before decoding: a token has a fixed length, and outside input is bounded before work.
  if (text.length !== Math.ceil(TOKEN_BYTES * 4 / 3)) return 'invalid'
  const bytes = Buffer.from(text, 'base64url')
  if (bytes.length !== TOKEN_BYTES) return 'invalid'
  const signed = bytes.subarray(0, NONCE_BYTES + EXPIRY_BYTES)
  if (!timingSafeEqual(mac(secret, signed), bytes.subarray(NONCE_BYTES + EXPIRY_BYTES))) return 'invalid'
  const expiresAt = signed.readUInt32BE(NONCE_BYTES) * 1000
  if (expiresAt <= now) return 'expired'
  return { nonce: signed.subarray(0, NONCE_BYTES).toString('base64url'), expiresAt }
}
