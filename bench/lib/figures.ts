/** Every figure the benchmark reports, in table order, with what it measures. Bodies are 1 KiB unless named otherwise. */
export const FIGURES = {
  unpack_ceiling_per_s: 'didcomm-node unpacking one forward layer, tight single-thread loop',
  node_unpack_per_s: "the node's own unpack of the same forward (native anoncrypt unwrap), same loop",
  ingest_per_s: 'forwards accepted (202 after a durable write) by one node over HTTP, concurrent senders',
  ingest_ratio: 'ingest_per_s / unpack_ceiling_per_s',
  ingest_p50_ms: 'forward response time at half of ingest_per_s, open loop',
  ingest_p99_ms: 'forward response time at half of ingest_per_s, open loop',
  ingest_16k_per_s: 'ingest_per_s with 16 KiB bodies',
  pickup_per_s: 'messages delivered and acknowledged through pickup over WebSocket, batches of 100',
  relay_p50_ms: 'one acknowledged node-to-node libp2p hop on a warm connection',
  relay_p99_ms: 'one acknowledged node-to-node libp2p hop on a warm connection',
  route_cold_ms: "business to live wallet, first message: the home node's route found through the DHT",
  e2e_per_s: 'business -> its node -> home node -> live wallet, concurrent senders, pushes acknowledged',
  e2e_p50_ms: 'business -> its node -> home node -> live wallet, one message at a time',
  e2e_p99_ms: 'business -> its node -> home node -> live wallet, one message at a time',
  rss_idle_mb: "one node's RSS, idle after start",
  rss_loaded_mb: "one node's RSS at the end of the ingest run",
  disk_bytes_per_message: "one node's data dir growth per queued message"
} as const

export type FigureName = keyof typeof FIGURES
export type Figures = Partial<Record<FigureName, number>>

export const FIGURE_NAMES = Object.keys(FIGURES) as FigureName[]

/** The figures missing or not a finite number. */
export function missingFigures (figures: Figures): FigureName[] {
  return FIGURE_NAMES.filter(name => !Number.isFinite(figures[name]))
}
