import { statfs } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import packageJson from '../package.json' with { type: 'json' }
import type { Config } from '../config/schema.ts'
import { didWebPath } from '../didcomm/did-web.ts'
import { createAnoncryptPool } from '../didcomm/anoncrypt-pool.ts'
import type { AnoncryptPool } from '../didcomm/anoncrypt-pool.ts'
import { createEnvelope } from '../didcomm/envelope.ts'
import { paddedEnvelope } from '../didcomm/padding.ts'
import { createResolver } from '../didcomm/resolver.ts'
import { createMediationPolicy } from '../protocols/coordinate-mediation/policy.ts'
import { createDispatcher } from '../protocols/index.ts'
import { mediationInvitation } from '../protocols/out-of-band/messages.ts'
import type { Invitation } from '../protocols/out-of-band/messages.ts'
import type { LiveDelivery } from '../protocols/pickup/live.ts'
import { openStore } from '../storage/open.ts'
import { loadOrCreateNodeKeys, nodeSecret } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import type { Store } from '../storage/store.ts'
import { adminToken, registerAdmin } from './admin.ts'
import { nodeBackup } from './backup.ts'
import { createClientAddress } from './client-address.ts'
import { createNodeIdentity, endpointsFor } from './identity.ts'
import type { Endpoints } from './identity.ts'
import { createInbound } from './inbound.ts'
import type { Inbound } from './inbound.ts'
import { createMeshLibp2p, dialBootstrapAddresses } from './libp2p.ts'
import type { MeshLibp2p } from './libp2p.ts'
import { Lifecycle } from './lifecycle.ts'
import { createLiveDelivery } from './live.ts'
import { createLogger, didHasher, redactingLogger } from './log.ts'
import { createDidWebFetcher } from './mesh/did-web-fetch.ts'
import { createMesh } from './mesh/mesh.ts'
import type { Mesh } from './mesh/mesh.ts'
import { undeliverableReports } from './mesh/undeliverable.ts'
import { createNodeMetrics, meteredMailbox } from './metrics.ts'
import { createNodePush } from './push/push.ts'
import type { NodeMetrics } from './metrics.ts'
import { httpListenError, libp2pListenError, libp2pWsPort } from './ports.ts'
import { createRateLimiter } from './rate-limit.ts'
import { createReturnRoutes } from './return-route.ts'
import { createHttpTransport } from './transports/http.ts'
import type { OperatorEndpoints } from './transports/http.ts'
import { startLibp2pTransport } from './transports/libp2p.ts'
import { readableDuration } from './web/page.ts'
import { registerWebPages } from './web/index.ts'

export interface NodeInfo {
  did: string
  dids: readonly string[]
  peerId: string
  multiaddrs: string[]
  /** Peer IDs of the libp2p peers connected now. */
  peers: string[]
  /** Route lookups and the relay outbox. */
  mesh: ReturnType<Mesh['stats']>
  endpoints: Endpoints
  version: string
}

export interface MeshNode {
  start(): Promise<void>
  stop(): Promise<void>
  info(): NodeInfo
  invitation(): Invitation
  /** The HTTP base URL the node listens on (the bound port, even when configured as 0). */
  listenUrl(): string
}

export interface NodeOptions {
  logger?: Logger
  /** Encrypts node-key.json (from DIDCOMM_MESH_KEY_PASSPHRASE; never a config option, so it is not on a command line). */
  keyPassphrase?: string
  /** node-key.json's content given instead of the file (from DIDCOMM_MESH_NODE_KEY: a secret replicas share). */
  nodeKey?: string
}

/** What a started node answers; stopping it stops every stage. */
type RunningNode = Omit<MeshNode, 'start'>

const SWEEP_INTERVAL_MS = 60_000
const OUTBOX_RESCAN_MS = 5_000

export function createNode (config: Config, options: NodeOptions = {}): MeshNode {
  let running: RunningNode | undefined
  const started = (): RunningNode => {
    if (running === undefined) throw new Error('node is not started')
    return running
  }
  return {
    async start () {
      running = await startNode(config, options)
    },
    async stop () {
      const node = running
      running = undefined
      await node?.stop()
    },
    info: () => started().info(),
    invitation: () => started().invitation(),
    listenUrl: () => started().listenUrl()
  }
}

/**
 * Starts the stages in order, each registering its stop: storage → keys → libp2p → mesh →
 * transports. The start has two phases: the transports listen first, because the mediator DID names
 * the bound HTTP port; only once the node is named does it decrypt and accept relays.
 */
async function startNode (config: Config, options: NodeOptions): Promise<RunningNode> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const lifecycle = new Lifecycle(logger)
  try {
    return await startStages(config, { ...options, logger }, lifecycle)
  } catch (err) {
    await lifecycle.stop()
    throw err
  }
}

async function startStages (config: Config, options: NodeOptions & { logger: Logger }, lifecycle: Lifecycle): Promise<RunningNode> {
  const startedAt = Date.now()
  const metrics = createNodeMetrics()

  // Storage.
  const limits = { maxMessages: config.maxMessagesPerRecipient, maxBytes: config.maxBytesPerRecipient }
  const store = await openStore(config, { mailbox: limits })
  lifecycle.started('storage', async () => { await store.close() })
  metrics.observe({
    queued: async () => await store.mailbox.queued(),
    disk: async () => {
      const fs = await statfs(config.dataDir)
      return { available: fs.bavail * fs.bsize, size: fs.blocks * fs.bsize }
    }
  })

  // Keys; the DID they make waits for the bound port.
  const keys = await loadOrCreateNodeKeys(config.dataDir, options.keyPassphrase, options.nodeKey)
  const logger = redactingLogger(options.logger, nodeSecret(keys, 'log-hash'))
  const didWeb = config.didWeb === undefined ? undefined : `did:web:${config.didWeb}`
  const identity = createNodeIdentity(keys, store.state, didWeb)

  const libp2p = await startLibp2p(config, keys, store, metrics, lifecycle)

  // The mesh, the protocols and the pipeline in front of them.
  // did:web documents are fetched under the relay's destination rules, from the allowed ports; the node's own is at hand.
  const resolver = createResolver({ fetchDidWeb: createDidWebFetcher({ privateDestinations: config.relayPrivateDestinations, ports: config.didWebPorts }), own: identity.document })
  // What the node packs for its clients (replies, deliveries, problem reports) is padded to a size bucket.
  const anoncryptPool = anoncryptThreads(config.unpackWorkers)
  if (anoncryptPool !== undefined) {
    lifecycle.started('anoncrypt threads', async () => { await anoncryptPool.close() })
    metrics.observe({ threadHeap: async () => await anoncryptPool.heap() })
  }
  const envelope = paddedEnvelope(createEnvelope(resolver, identity.secret, { legacyJwe: config.legacyJwe, anoncryptPool }))
  const { mediations } = store
  const mailbox = meteredMailbox(store.mailbox, limits, metrics)
  // Mail for a client with no live socket wakes its devices (push is made just below; it is first called later).
  const live = createLiveDelivery({ mailbox, mediations, envelope, nodeDid: identity.did, logger, metrics, signals: store.signals, asleep: client => { push.wake(client) } })
  lifecycle.started('live delivery', () => { live.stop() })
  const push = createNodePush(config, {
    devices: store.pushDevices, mailbox, mediations, logger, metrics,
    live: client => live.connected(client),
    vapidSecret: nodeSecret(keys, 'vapid')
  })
  lifecycle.started('push', () => { push.stop() })
  const mesh = createMesh({
    libp2p, resolver, logger, metrics,
    did: identity.did,
    outbox: store.outbox,
    report: undeliverableReports({ mailbox, envelope, live, nodeDid: identity.did })
  }, {
    relayOpen: config.relayOpen,
    relayPrivateDestinations: config.relayPrivateDestinations,
    messageLifetimeMs: config.messageLifetimeSeconds * 1000,
    mix: { enabled: config.mix, maxDelayMs: config.mixDelayMs, maxHeld: config.mixMaxHeld, peersPerHost: config.mixPeersPerHost },
    outbox: {
      maxAttempts: config.relayMaxAttempts,
      maxDelayMs: config.relayMaxDelaySeconds * 1000,
      maxPerSender: config.outboxMaxPerOrigin,
      maxMessages: config.outboxMaxMessages,
      maxBytes: config.outboxMaxBytes,
      // Replicas pick up each other's relays, and those a dead replica let go of.
      ...(store.shared ? { rescanMs: OUTBOX_RESCAN_MS } : {})
    }
  })
  lifecycle.started('mesh', async () => { await mesh.stop() })
  // Transports, phase one: listening, but DIDComm waits (503) until the node is named. False again once it stops.
  let accepting = false
  const inbound = createInbound({
    envelope, logger, metrics,
    accepting: () => accepting,
    dids: identity.dids,
    returnRoutes: createReturnRoutes({ mediations, mailbox, live, onward: mesh.onward, resolver, envelope, ownDids: identity.dids }),
    dispatch: createDispatcher({
      mailbox, mediations, live, resolver,
      mediationPolicy: createMediationPolicy(config.mediation, { secret: nodeSecret(keys, 'invite'), used: store.usedInvitations, logger }),
      onward: mesh.onward,
      ownDids: identity.dids,
      mixes: () => mesh.mixes().map(peer => peer.did),
      delivered: metrics.delivered,
      maxMessageBytes: config.maxMessageBytes,
      maxMediations: config.maxMediations,
      maxRecipientsPerClient: config.maxRecipientsPerClient,
      pushDevices: store.pushDevices,
      maxPushDevicesPerClient: config.maxPushDevicesPerClient,
      webPush: { vapidPublicKey: push.vapidPublicKey, endpointAllowed: push.endpointAllowed },
      pushGateway: push.gateway,
      pushRegistrations: metrics.pushRegistrations
    })
  })

  // One invitation per DID, so the banner, /oob and the home page's QR code show the same one.
  let invitation: Invitation | undefined
  const node: RunningNode = {
    info: () => ({
      did: identity.did(),
      dids: identity.dids(),
      peerId: libp2p.peerId.toString(),
      multiaddrs: libp2p.getMultiaddrs().map(ma => ma.toString()),
      peers: libp2p.getPeers().map(peer => peer.toString()),
      mesh: mesh.stats(),
      endpoints: identity.endpoints(),
      version: packageJson.version
    }),
    invitation: () => {
      const did = identity.did()
      if (invitation?.invitation.from !== did) invitation = mediationInvitation(did, identity.endpoints().http, { label: config.nodeName })
      return invitation
    },
    listenUrl: () => listenUrlOf(http),
    stop: async () => { await lifecycle.stop() }
  }
  const didDocument = didWeb === undefined ? undefined : { path: didWebPath(didWeb), document: () => identity.document(didWeb) }
  const http = await listenHttp(config, { inbound, live, store, keys, libp2p, mesh, metrics, logger, node, startedAt, didDocument, accepting: () => accepting }, lifecycle)

  // The DID names the bound port; with it the node can decrypt.
  await identity.name(endpointsFor(config, boundPort(http), libp2p.peerId.toString()))
  // The outbox counts what waits on disk before any transport can add to it.
  await mesh.start(identity.dids())

  // Phase two: relays are accepted. Until now a relaying peer found no protocol and retried later,
  // rather than being told "rejected" and dropping the message.
  const peersPerHost = config.rateP2pPeersPerHost
  await startLibp2pTransport(libp2p, inbound, {
    maxMessageBytes: config.maxMessageBytes,
    rateLimiter: createRateLimiter({ perSecond: config.rateLimit, burst: config.rateBurst, metrics }),
    // Fresh peer IDs cost nothing: libp2p peers from one IP address also share a larger budget, kept
    // apart from the IP's HTTP one (a mesh node relays for many wallets; wallets behind the same NAT
    // must not use up its budget, nor it theirs).
    hostRateLimiter: createRateLimiter({ perSecond: config.rateLimit * peersPerHost, burst: config.rateBurst * peersPerHost, metrics })
  }, logger)
  lifecycle.started('sweeper', startSweeper(config, store, logger))
  accepting = true
  lifecycle.started('accepting', () => { accepting = false })
  logger.info({ peerId: libp2p.peerId.toString(), endpoints: identity.endpoints() }, 'node started')
  return node
}

/** libp2p on the store's datastore, listening and dialling its bootstrap peers. */
async function startLibp2p (config: Config, keys: NodeKeys, store: Store, metrics: NodeMetrics, lifecycle: Lifecycle): Promise<MeshLibp2p> {
  const libp2p = await createMeshLibp2p({
    privateKey: keys.libp2p,
    datastore: store.datastore,
    host: config.host,
    port: config.p2pPort,
    wsPort: libp2pWsPort(config),
    announce: config.announce,
    bootstrap: config.bootstrap,
    mdns: config.mdns,
    privateAddresses: config.privateAddresses,
    maxConnections: config.maxConnections,
    maxConnectionsPerHost: config.maxConnectionsPerHost,
    inboundConnectionsPerSecond: config.inboundConnectionsPerSecond,
    metricsRegistry: metrics.registry,
    statfsLocation: config.dataDir
  })
  try {
    await libp2p.start()
  } catch (err) {
    throw libp2pListenError(err, config)
  }
  const stopBootstrapDials = dialBootstrapAddresses(libp2p, config.bootstrap)
  lifecycle.started('libp2p', async () => {
    stopBootstrapDials()
    await libp2p.stop()
  })
  metrics.observe({ peers: () => libp2p.getPeers().length })
  return libp2p
}

interface HttpComponents {
  inbound: Inbound
  live: LiveDelivery
  store: Store
  keys: NodeKeys
  libp2p: MeshLibp2p
  mesh: Mesh
  metrics: NodeMetrics
  logger: Logger
  node: RunningNode
  /** epoch milliseconds */
  startedAt: number
  /** Whether DIDComm is served yet. */
  accepting: () => boolean
  /** The did:web document, when the node has a did:web. */
  didDocument: OperatorEndpoints['didDocument']
}

/** HTTP and WebSocket (DIDComm, operator endpoints, the admin API), listening on the configured port. */
async function listenHttp (config: Config, components: HttpComponents, lifecycle: Lifecycle): Promise<FastifyInstance> {
  const { store, libp2p, metrics, node, accepting, mesh } = components
  /** What GET /ready reports: accepting, store open, libp2p listening, and a peer when bootstrap peers are configured. */
  const readiness = (): { ready: boolean, checks: Record<string, boolean> } => {
    const checks: Record<string, boolean> = {
      started: accepting(),
      store: store.isOpen(),
      libp2p: libp2p.getMultiaddrs().length > 0,
      ...(config.bootstrap.length > 0 ? { peers: libp2p.getPeers().length > 0 } : {})
    }
    return { ready: Object.values(checks).every(Boolean), checks }
  }
  metrics.observe({ ready: () => readiness().ready })
  const http = await createHttpTransport(components.inbound, components.live, {
    info: () => node.info(),
    invitation: () => node.invitation(),
    mixes: () => mesh.mixes(),
    ready: accepting,
    readiness,
    metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
    ...(components.didDocument === undefined ? {} : { didDocument: components.didDocument })
  }, {
    maxMessageBytes: config.maxMessageBytes,
    corsOrigins: config.corsOrigins,
    websocketFrames: config.websocketFrames,
    requestTimeoutSeconds: config.requestTimeoutSeconds,
    websocketIdleSeconds: config.websocketIdleSeconds,
    // One budget per source across HTTP and WebSocket: a client's IP (the real one behind trusted proxies).
    rateLimiter: createRateLimiter({ perSecond: config.rateLimit, burst: config.rateBurst, metrics }),
    clientAddress: createClientAddress({ trustProxy: config.trustProxy, header: config.forwardedHeader }),
    publicHttps: config.publicUrl?.startsWith('https:') ?? false
  }, components.logger)
  await registerAdmin(http, adminToken(components.keys), {
    mediations: store.mediations,
    mailbox: store.mailbox,
    live: components.live,
    logger: components.logger,
    backup: nodeBackup(store, config.dataDir)
  })
  registerWebPages(http, webPages(config, components))
  lifecycle.started('http', async () => { await http.close() })
  try {
    await http.listen({ host: config.host, port: config.httpPort })
  } catch (err) {
    throw httpListenError(err, config.httpPort)
  }
  return http
}

/** The home page (unless turned off) and, with a status token, the operator's mesh view. */
function webPages (config: Config, components: HttpComponents): Parameters<typeof registerWebPages>[1] {
  const { store, libp2p, mesh, metrics, node, accepting, startedAt } = components
  const hashDid = didHasher(nodeSecret(components.keys, 'log-hash'))
  return {
    ...(config.homePage
      ? {
          home: {
            name: config.nodeName,
            identity: () => {
              if (!accepting()) return undefined
              const { did, endpoints } = node.info()
              return { did, endpoints, invitationUrl: node.invitation().url }
            },
            live: async () => ({
              peers: libp2p.getPeers().length,
              clients: await store.mediations.count(),
              messagesWaiting: (await store.mailbox.queued()).messages,
              relaysWaiting: mesh.stats().outbox.depth,
              version: packageJson.version,
              uptime: readableDuration((Date.now() - startedAt) / 1000)
            })
          }
        }
      : {}),
    ...(config.statusToken === undefined
      ? {}
      : {
          status: {
            token: config.statusToken,
            view: () => ({
              peerId: libp2p.peerId.toString(),
              peers: libp2p.getPeers().map(peer => peer.toString()),
              ...mesh.stats(),
              hops: mesh.hops().map(({ next, ...hop }) => ({ ...hop, mediator: hashDid(next) })),
              relays: metrics.recentRelays()
            })
          }
        })
  }
}

function boundPort (http: FastifyInstance): number {
  const address = http.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('HTTP server is not listening')
  return address.port
}

function listenUrlOf (http: FastifyInstance): string {
  const address = http.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('HTTP server is not listening')
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

/** The threads that decrypt forwards: `--unpack-workers`, or by default one fewer than the cores (at most 4); none for 0. */
function anoncryptThreads (configured: number | undefined): AnoncryptPool | undefined {
  const size = configured ?? Math.min(4, availableParallelism() - 1)
  return size > 0 ? createAnoncryptPool(size) : undefined
}

/** Expires old messages and used invitation tokens, now and every minute; returns its stop. */
function startSweeper (config: Config, store: Store, logger: Logger): () => void {
  const sweep = (): void => {
    store.mailbox.sweep(Date.now() - config.messageLifetimeSeconds * 1000)
      .then(n => { if (n > 0) logger.info({ expired: n }, 'swept expired messages') })
      .catch(err => { logger.error({ err }, 'expiry sweep failed') })
    store.usedInvitations.sweep(Date.now())
      .catch(err => { logger.error({ err }, 'invitation sweep failed') })
  }
  sweep()
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS)
  timer.unref()
  return () => { clearInterval(timer) }
}
