import type { Envelope } from '../../didcomm/envelope.ts'
import type { LiveDelivery } from '../../protocols/pickup/live.ts'
import { problemReport } from '../../protocols/problem-report/messages.ts'
import type { Mailbox, OutboxEntry } from '../../storage/store.ts'

export interface UndeliverableComponents {
  mailbox: Pick<Mailbox, 'add'>
  envelope: Pick<Envelope, 'pack'>
  live: Pick<LiveDelivery, 'queued'>
  /** The DID the report comes from. */
  nodeDid: () => string
}

/**
 * The outbox's policy for a message it gives up on (rejected, expired, out of attempts): the local
 * client that sent it gets an encrypted problem report on the forward's thread, queued in its own
 * mailbox like any message (and pushed if it is live). A message relayed for another node has no
 * local origin; that node learnt of the refusal itself, or its own outbox gives up in turn.
 */
export function undeliverableReports (components: UndeliverableComponents): (entry: OutboxEntry, code: string, comment: string) => Promise<void> {
  const { mailbox, envelope, live, nodeDid } = components
  return async (entry, code, comment) => {
    if (entry.origin === undefined) return
    const problem = problemReport(code, comment, { from: nodeDid(), to: entry.origin, pthid: entry.thid })
    await mailbox.add(entry.origin, await envelope.pack(problem, entry.origin, nodeDid()))
    live.queued(entry.origin, entry.origin)
  }
}
