/**
 * The libp2p wire format of DIDComm messages, shared by both ends: the receiving transport
 * (transports/libp2p.ts) and the relay that sends (mesh/channel.ts, mesh/relay.ts).
 */
import { PROBLEM } from '../protocols/problem-report/codes.ts'

/**
 * Acknowledged node-to-node and agent protocol: each request frame is answered by one status frame,
 * in order. A sender may send one frame per stream or pipeline many on one long-lived stream.
 */
export const DIDCOMM_MESH_PROTOCOL = '/didcomm-mesh/didcomm/1.0.0'
/** The DIF DIDComm libp2p extension: one length-prefixed message per stream, no answer. */
export const DIF_DIDCOMM_PROTOCOL = 'didcomm/v2'

/** The status frame answering a request on DIDCOMM_MESH_PROTOCOL. */
export interface StatusFrame {
  status: 'accepted' | 'rejected'
  code?: string
  comment?: string
  /** Packed replies for the sender (e.g. a pickup delivery), when there are any. */
  replies?: string[]
}

/** The largest status frame a sender reads. */
export const STATUS_MAX_BYTES = 64 * 1024

/**
 * A pipelined stream is closed by its sender once nothing has waited on it for SENDER_IDLE_MS, and
 * by its receiver once no frame has come for RECEIVER_IDLE_MS. The receiver's limit must be the
 * longer one, by more than a frame's processing and answer take: its clock starts at the last
 * frame read, the sender's only at the last status received. Otherwise a receiver could close
 * a stream the sender is about to write on.
 */
export const SENDER_IDLE_MS = 20_000
export const RECEIVER_IDLE_MS = 3 * SENDER_IDLE_MS

/**
 * Refusals that mean "not now": the sender keeps the message and sends it again later. Any quota
 * code counts (a next hop may run another version, with quotas of its own), and so does a next hop
 * that is starting or cannot reach its store.
 */
export function retryLater (code: string | undefined): boolean {
  return code === PROBLEM.rateLimited || code === PROBLEM.notReady || code?.startsWith('e.p.req.quota.') === true
}

export function encodeStatus (frame: StatusFrame): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(frame))
}

export function decodeStatus (bytes: Uint8Array): StatusFrame {
  const frame = JSON.parse(new TextDecoder().decode(bytes)) as StatusFrame
  if (frame.status !== 'accepted' && frame.status !== 'rejected') throw new Error('invalid status frame')
  return frame
}
