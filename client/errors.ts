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
