/** The home node could not be reached at all (network, DNS, refused). */
export class NodeUnreachableError extends Error {
  override name = 'NodeUnreachableError'
}

/** The node answered with a problem report or an HTTP error. */
export class NodeRefusedError extends Error {
  override name = 'NodeRefusedError'
  readonly code: string
  readonly status: number

  constructor (message: string, code: string, status: number, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.status = status
  }
}

export class MediationDeniedError extends Error {
  override name = 'MediationDeniedError'
}

export class UnknownContactError extends Error {
  override name = 'UnknownContactError'
}

export class NotConnectedError extends Error {
  override name = 'NotConnectedError'
}

/**
 * The home node offers fewer usable mix nodes than the mix hops wanted: nothing was sent. With fewer
 * hops one node could learn both ends of the message, so the agent never goes on with fewer.
 */
export class NotEnoughMixesError extends Error {
  override name = 'NotEnoughMixesError'
  readonly wanted: number
  readonly available: number

  constructor (wanted: number, available: number) {
    super(`not sent: ${wanted} mix hops wanted, but the home node offers ${available} usable mix node${available === 1 ? '' : 's'} for this message (with fewer hops a node could learn both ends); choose fewer mix hops (mixHops, or --mix-hops), 0 to send without mixing`)
    this.wanted = wanted
    this.available = available
  }
}
