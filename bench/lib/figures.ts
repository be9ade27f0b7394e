/** Every figure the benchmark reports, in table order, with what it measures. Bodies are 1 KiB unless named otherwise. */
export const FIGURES = {
  unpack_ceiling_per_s: 'didcomm-node unpacking one forward layer, tight single-thread loop',
  node_unpack_per_s: "the node's own unpack of the same forward (native anoncrypt unwrap), same loop",
  ingest_per_s: 'forwards accepted (202 after a durable write) by one node over HTTP, concurrent senders',
  ingest_ratio: 'ingest_per_s / unpack_ceiling_per_s',
  ingest_p50_ms: 'forward response time at half of ingest_per_s, open loop',
  ingest_p99_ms: 'forward response time at half of ingest_per_s, open loop',
  ingest_16k_per_s: 'ingest_per_s with 16 KiB bodies',
  pickup_per_s: 'messages delivered and acknowledged through pickup 3.0 over WebSocket, asking for 1000 a delivery (the node sends at most 1 MiB of them), each acknowledgement sent with the next request',
  relay_p50_ms: 'one acknowledged node-to-node libp2p hop on a warm connection, alternating with the e2e kinds',
  relay_p99_ms: 'one acknowledged node-to-node libp2p hop on a warm connection',
  route_cold_ms: "business to live wallet, first message: the home node's route found through the DHT",
  e2e_per_s: 'business -> its node -> home node -> live wallet, concurrent senders, pushes acknowledged',
  e2e_p50_ms: 'business -> its node -> home node -> live wallet, one message at a time',
  e2e_p99_ms: 'business -> its node -> home node -> live wallet, one message at a time',
  e2e_mix0_p50_ms: 'the same packed by the client library (padded, filled layers) with no mix hop, alternating with e2e_p*',
  e2e_mix0_p99_ms: 'the same packed by the client library (padded, filled layers) with no mix hop, alternating with e2e_p*',
  e2e_mix2_p50_ms: 'the same through two mix nodes (path built by the client library, padded), alternating with e2e_p*',
  e2e_mix2_p99_ms: 'the same through two mix nodes (path built by the client library, padded), alternating with e2e_p*',
  e2e_mix2_nodelay_p50_ms: 'the same through two mix nodes that hold nothing (--mix-delay-ms 0): the path without the deliberate delay',
  e2e_mix2_nodelay_p99_ms: 'the same through two mix nodes that hold nothing (--mix-delay-ms 0): the path without the deliberate delay',
  mix2_over_relay_p50: '(e2e_mix2_nodelay_p50_ms - e2e_mix0_p50_ms) / relay_p50_ms: what two mix hops cost, in single relays, besides the delay',
  live_wallets: 'WebSocket wallets live at once on one node for live_* (10,000 in a full run)',
  live_setup_s: 'seconds to enrol them all (mediation and a DID each, over HTTP) and bring them live',
  live_sockets_mb_per_1k: "what 1,000 live sockets add to the node's RSS (all wallets enrolled and 100 live before, all live after)",
  live_push_p50_ms: 'all wallets live: POST of a forward for a sampled wallet to its delivery frame on that socket',
  live_push_p99_ms: 'all wallets live: POST of a forward for a sampled wallet to its delivery frame on that socket',
  mesh100_route_cold_p50_ms: 'route_cold_ms between random pairs of a 100-node mesh (--quick: 8), each pair once',
  mesh100_route_cold_p99_ms: 'route_cold_ms between random pairs of a 100-node mesh (--quick: 8), each pair once',
  mesh100_dht_msgs_per_node_min: 'DHT requests each node of the idle 100-node mesh sends a minute (over 5 min; --quick: 5 s)',
  mesh100_mb_per_node: 'RSS one more in-process node adds, from a 10-node mesh to 100 (--quick: 5 to 8), after a full GC',
  rss_idle_mb: "one node's RSS, idle after start (from the TypeScript sources, as npm start runs it)",
  rss_idle_built_mb: "the same, built as npm run build builds it and started as the image starts it (no type stripping)",
  rss_loaded_mb: "one node's RSS at the end of the ingest run",
  disk_bytes_per_message: "one node's data dir growth per queued message"
} as const

/**
 * `--store postgres`'s figures: one LevelDB node (the reference), one replica on PostgreSQL, two
 * replicas on one PostgreSQL database (forwards spread across both, no balancer), all in one run.
 * CPU figures are milliseconds of CPU per forward during the timed ingest, from /proc.
 */
export const STORE_FIGURES = {
  level_ingest_per_s: 'LevelDB, one node: ingest_per_s (the reference)',
  level_ingest_p50_ms: 'LevelDB, one node: response time at half its ingest rate, open loop',
  level_ingest_p99_ms: 'LevelDB, one node: response time at half its ingest rate, open loop',
  level_pickup_per_s: 'LevelDB, one node: pickup_per_s',
  level_node_cpu_ms_per_forward: 'LevelDB: the node process',
  level_load_cpu_ms_per_forward: 'LevelDB: the load generator (bench process and its threads)',
  pg_ingest_per_s: 'PostgreSQL, one replica: ingest_per_s',
  pg_ingest_ratio: 'pg_ingest_per_s / level_ingest_per_s',
  pg_ingest_p50_ms: 'PostgreSQL, one replica: response time at half its ingest rate, open loop',
  pg_ingest_p99_ms: 'PostgreSQL, one replica: response time at half its ingest rate, open loop',
  pg_pickup_per_s: 'PostgreSQL, one replica: pickup_per_s',
  pg_node_cpu_ms_per_forward: 'PostgreSQL, one replica: the node process',
  pg_db_cpu_ms_per_forward: 'PostgreSQL, one replica: PostgreSQL (postmaster and all its children)',
  pg_load_cpu_ms_per_forward: 'PostgreSQL, one replica: the load generator',
  pg2_ingest_per_s: 'PostgreSQL, two replicas on one machine, forwards to both in turn: ingest_per_s',
  pg2_ingest_ratio: 'pg2_ingest_per_s / pg_ingest_per_s',
  pg2_ingest_p50_ms: 'PostgreSQL, two replicas: response time at half their ingest rate, open loop',
  pg2_ingest_p99_ms: 'PostgreSQL, two replicas: response time at half their ingest rate, open loop',
  pg2_pickup_per_s: 'PostgreSQL, two replicas: filled through both, picked up from the second',
  pg2_node1_cpu_ms_per_forward: 'PostgreSQL, two replicas: the first node process, per forward to either',
  pg2_node2_cpu_ms_per_forward: 'PostgreSQL, two replicas: the second node process, per forward to either',
  pg2_db_cpu_ms_per_forward: 'PostgreSQL, two replicas: PostgreSQL (postmaster and all its children)',
  pg2_load_cpu_ms_per_forward: 'PostgreSQL, two replicas: the load generator'
} as const

/** A bound the project set for a figure: printed with the table as met or not, never failing a run. */
export interface Target { max?: number, min?: number }

/** The targets the table shows (issue 17's for mix hops: at most twice a single relay). */
export const TARGETS: Readonly<Record<string, Target>> = {
  mix2_over_relay_p50: { max: 2 }
}

/** Whether `value` is within `target`. */
export function meets (target: Target, value: number): boolean {
  return (target.max === undefined || value <= target.max) && (target.min === undefined || value >= target.min)
}

/** A set of figures in table order, each with what it measures. */
export type FigureSet = Readonly<Record<string, string>>

export type FigureName = keyof typeof FIGURES | keyof typeof STORE_FIGURES
export type Figures = Partial<Record<FigureName, number>>

/** The figures of `set` missing or not a finite number. */
export function missingFigures (figures: Figures, set: FigureSet = FIGURES): string[] {
  return Object.keys(set).filter(name => !Number.isFinite(figures[name as FigureName]))
}
