/** How much each scenario does: `--quick` runs every scenario briefly (a smoke run), the default a full run. */
export interface Settings {
  quick: boolean
  /** Where the results JSON goes. */
  out: string
  /** Unpacks timed for the single-thread ceiling. */
  unpackRuns: number
  /** Concurrent HTTP senders driving one node. */
  senders: number
  /** Forwards sent before timing starts (connections, JIT). */
  warmup: number
  /** Forwards timed for ingest_per_s (1 KiB bodies). */
  ingestMessages: number
  /** Forwards timed for ingest_16k_per_s (16 KiB bodies). */
  ingest16kMessages: number
  /** Seconds of open-loop load for the ingest latency figures. */
  openLoopSeconds: number
  /** Wait after a node starts before its idle RSS is read. */
  idleSettleMs: number
  /** Messages queued, then picked up over WebSocket, for pickup_per_s. */
  pickupMessages: number
  /** Messages queued for disk_bytes_per_message. */
  diskMessages: number
  /** Nodes in the mesh scenario. */
  meshNodes: number
  /** Sequential business-to-wallet messages (latency). */
  e2eRuns: number
  /** Business-to-wallet messages sent concurrently (throughput). */
  e2eMessages: number
  /** Concurrent senders for e2e_per_s. */
  e2eSenders: number
  /** WebSocket wallets live at once on one node (live_*). */
  liveWallets: number
  /** Forwards posted to a sample of them, one each, while all are live (live_push_*). */
  livePushes: number
  /**
   * Idle time before each RSS reading of live_sockets_mb_per_1k. Read right after a busy phase, RSS
   * holds what the phase's garbage took (going live right after enrolling read 76 MB more for 900
   * sockets than after a pause, measured); V8's memory reducer collects ~8 s after allocation slows.
   */
  liveSettleMs: number
  /** The mesh-at-scale scenario's sizes, grown in turn; its figures are the last's (mesh_*_per_node from the first to the last). */
  meshScaleSizes: number[]
  /** First messages between fresh pairs of nodes at each size, for its route_cold percentiles. */
  meshScaleSamples: number
  /** At most this long, after each growth, the mesh host is given to go quiet (its joins done) before the first sample. */
  meshScaleSettleMs: number
  /** How long the largest mesh is watched idle for its DHT traffic. */
  dhtIdleMs: number
}

export const KIB = 1024
/** Messages asked for per pickup delivery-request: the node's most, of which it sends at most 1 MiB (DELIVERY_MAX_BYTES). */
export const PICKUP_BATCH = 1000
/** Forwards packed and sent per round when filling a mailbox (the next round packs meanwhile). */
export const FILL_CHUNK = 1000

export function settingsFor (quick: boolean, out: string): Settings {
  const common = { quick, out, senders: 64, e2eSenders: 8, meshNodes: 10 }
  if (quick) {
    return { ...common, unpackRuns: 300, warmup: 48, ingestMessages: 400, ingest16kMessages: 200, openLoopSeconds: 1.5, idleSettleMs: 500, pickupMessages: 500, diskMessages: 5_000, e2eRuns: 30, e2eMessages: 100, liveWallets: 200, livePushes: 50, liveSettleMs: 2_000, meshScaleSizes: [5, 8], meshScaleSamples: 3, meshScaleSettleMs: 20_000, dhtIdleMs: 5_000 }
  }
  return { ...common, unpackRuns: 3000, warmup: 200, ingestMessages: 5000, ingest16kMessages: 1500, openLoopSeconds: 10, idleSettleMs: 2000, pickupMessages: 5000, diskMessages: 100_000, e2eRuns: 300, e2eMessages: 1000, liveWallets: 10_000, livePushes: 500, liveSettleMs: 10_000, meshScaleSizes: [10, 25, 50, 100], meshScaleSamples: 30, meshScaleSettleMs: 420_000, dhtIdleMs: 300_000 }
}
