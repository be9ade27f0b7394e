/**
 * Every problem code this node and its client emit, by name (DIDComm v2 problem codes:
 * sorter.scope.descriptors). Senders and tests match them on the wire, so a value never changes.
 */
export const PROBLEM = {
  /** Generic ones, where nothing narrower fits. */
  msg: 'e.p.msg',
  req: 'e.p.req',
  xfer: 'e.p.xfer',
  internal: 'e.p.me',

  malformed: 'e.p.msg.malformed',
  unencrypted: 'e.p.msg.unencrypted',
  unsupported: 'e.p.msg.unsupported',
  unsupportedMediaType: 'e.p.msg.unsupported-media-type',
  tooBig: 'e.p.msg.too-big',
  tooManyLayers: 'e.p.msg.too-many-layers',
  expired: 'e.p.msg.expired',
  replay: 'e.p.msg.replay',
  stale: 'e.p.msg.stale',

  crypto: 'e.p.trust.crypto',
  senderMismatch: 'e.p.trust.crypto.sender-mismatch',
  unauthenticated: 'e.p.trust.crypto.unauthenticated',

  notEnrolled: 'e.p.req.not-enrolled',
  unknownRecipient: 'e.p.req.unknown-recipient',
  recipientNotHeld: 'e.p.req.recipient-not-held',
  relayNotAllowed: 'e.p.req.relay-not-allowed',
  /** A relay towards an HTTP destination this node may not reach (loopback, private, ...): refused, on arrival or when sent. */
  destinationNotAllowed: 'e.p.req.destination-not-allowed',
  /** A request refused by the rate limit: the sender should send it again shortly. */
  rateLimited: 'e.p.req.rate-limited',
  /** Full outbox quotas: the sender should send again later. */
  quotaOrigin: 'e.p.req.quota.origin',
  quotaOutbox: 'e.p.req.quota.outbox',

  cantUseEndpoint: 'e.p.xfer.cant-use-endpoint',
  undeliverable: 'e.p.xfer.undeliverable',
  xferExpired: 'e.p.xfer.expired',

  storageFull: 'e.p.me.res.storage.full',
  notReady: 'e.m.not-ready',
  liveModeNotSupported: 'e.m.live-mode-not-supported'
} as const

export type ProblemCode = typeof PROBLEM[keyof typeof PROBLEM]
