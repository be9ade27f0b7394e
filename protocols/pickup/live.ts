import type { QueuedMessage } from '../../storage/store.ts'
import type { Session } from '../message.ts'

export type PickupVersion = '3.0' | '4.0'

/** Pushes queued messages to clients connected in live mode. */
export interface LiveDelivery {
  /**
   * Binds `session` to `client` and claims its backlog; call the returned function to push it.
   * Pushes come from `from` (the node DID the client spoke to), else from the node's current DID.
   */
  enable(session: Session, client: string, version: PickupVersion, from?: string): Promise<() => void>
  disable(session: Session): void
  isLive(session: Session): boolean
  /** Sessions in live mode now. */
  sessions(): number
  /** Ids pushed to the client and not yet acknowledged: not counted as waiting. */
  inFlight(client: string): ReadonlySet<string>
  /**
   * How many more waiting messages the node pushes to `client` without being asked (0 when it has
   * no live session here): those a status must not count, or a wallet asks for what is on its way.
   */
  pushing(client: string): number
  /**
   * For a client live here: up to `limit` of its waiting messages for `recipients`, handed out on
   * request (a delivery-request) and from then on in flight like pushes, so no push repeats them.
   * Undefined when the client is not live here.
   */
  handOut(client: string, recipients: readonly string[], limit: number): Promise<QueuedMessage[] | undefined>
  acknowledged(client: string, ids: readonly string[]): void
  /** A message was queued for `recipient`, held by `client`. */
  queued(client: string, recipient: string): void
  /** Ends every live session of `client` (its mediation was revoked). */
  drop(client: string): void
}
