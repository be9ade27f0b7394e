import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import packageJson from '../package.json' with { type: 'json' }
import type { Config } from '../config/schema.ts'
import { createEnvelope } from '../didcomm/envelope.ts'
import type { SecretLookup } from '../didcomm/envelope.ts'
import { createDidIdentity, peerDid2For } from '../didcomm/keys.ts'
import type { DidIdentity } from '../didcomm/keys.ts'
import { createResolver } from '../didcomm/resolver.ts'
import { LIBP2P_URI } from '../didcomm/transport.ts'
import { createMediationPolicy } from '../protocols/coordinate-mediation/policy.ts'
import { createDispatcher } from '../protocols/index.ts'
import { mediationInvitation } from '../protocols/out-of-band/messages.ts'
import { problemReport } from '../protocols/problem-report/messages.ts'
import type { Invitation } from '../protocols/out-of-band/messages.ts'
import { GroupCommit, openDatabase, rememberMediatorDid } from '../storage/database.ts'
import { createLibp2pDatastore } from '../storage/datastore.ts'
import { createLevelUsedInvitations } from '../storage/invitations.ts'
import type { Database } from '../storage/database.ts'
import { loadOrCreateNodeKeys, nodeSecret } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import { createLevelMailbox } from '../storage/mailbox.ts'
import type { Mailbox } from '../storage/mailbox.ts'
import { createLevelMediations } from '../storage/mediations.ts'
import type { OutboxEntry } from '../storage/outbox.ts'
import { adminToken, registerAdmin } from './admin.ts'
import { createInbound } from './inbound.ts'
import { createMeshLibp2p, dialBootstrapAddresses } from './libp2p.ts'
import { createMesh } from './mesh/mesh.ts'
import type { Mesh } from './mesh/mesh.ts'
import type { MeshLibp2p } from './libp2p.ts'
import { createLiveDelivery } from './live.ts'
import { createClientAddress } from './client-address.ts'
import { countedInbound, countedRateLimiter, createNodeMetrics } from './metrics.ts'
import { createRateLimiter } from './rate-limit.ts'
import { createLogger, redactingLogger } from './log.ts'
import { createHttpTransport } from './transports/http.ts'
import { startLibp2pTransport } from './transports/libp2p.ts'
import { WEBSOCKET_PATH } from './transports/websocket.ts'

export interface Endpoints { http: string, ws: string, libp2p: string }

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
}

const SWEEP_INTERVAL_MS = 60_000

/** Where the node is reached. */
export function endpointsFor (config: Config, httpPort: number, peerId: string): Endpoints {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const http = (config.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`).replace(/\/+$/, '')
  return { http, ws: http.replace(/^http/, 'ws') + WEBSOCKET_PATH, libp2p: LIBP2P_URI + peerId }
}

/**
 * The mediator DID: did:peer:2 over the node's keys, one DIDCommMessaging service per endpoint, in
 * the order real clients need: http(s) first (Identus and didcomm-rust POST to the first), then
 * ws(s) (browser wallets open the first ws), then libp2p.
 */
export function mediatorDid (keys: NodeKeys, endpoints: Endpoints): string {
  return peerDid2For(keys.keyAgreement, keys.authentication, [endpoints.http, endpoints.ws, endpoints.libp2p].map(uri => ({ uri, accept: ['didcomm/v2'] })))
}

export function createNode (config: Config, options: NodeOptions = {}): MeshNode {
  const baseLogger = options.logger ?? createLogger(config.logLevel)
  let db: Database | undefined
  let libp2p: MeshLibp2p | undefined
  let http: FastifyInstance | undefined
  let identity: DidIdentity | undefined
  let endpoints: Endpoints | undefined
  let mesh: Mesh | undefined
  let sweepTimer: NodeJS.Timeout | undefined
  let stopBootstrapDials = (): void => {}
  let ready = false

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('node is not started')
    return value
  }

  /** What GET /ready reports: started, store open, libp2p listening, and a peer when bootstrap peers are configured. */
  const readiness = (): { ready: boolean, checks: Record<string, boolean> } => {
    const checks: Record<string, boolean> = {
      started: ready,
      store: db?.status === 'open',
      libp2p: (libp2p?.getMultiaddrs().length ?? 0) > 0,
      ...(config.bootstrap.length > 0 ? { peers: (libp2p?.getPeers().length ?? 0) > 0 } : {})
    }
    return { ready: Object.values(checks).every(Boolean), checks }
  }

  // Secrets exist only once the DID is known (it names the bound port); until then nothing decrypts.
  const secret: SecretLookup = kid => identity?.secret(kid)

  return {
    async start () {
      const keys = await loadOrCreateNodeKeys(config.dataDir, options.keyPassphrase)
      const logger = redactingLogger(baseLogger, nodeSecret(keys, 'log-hash'))
      db = await openDatabase(config.dataDir)
      const commit = new GroupCommit(db)
      const metrics = createNodeMetrics()
      const store = createLevelMailbox(db, commit, { maxMessages: config.maxMessagesPerRecipient, maxBytes: config.maxBytesPerRecipient })
      // Deliveries are counted where clients acknowledge them.
      const mailbox: Mailbox = { ...store, remove: async (recipients, ids) => { const n = await store.remove(recipients, ids); metrics.delivered(n); return n } }
      const mediations = createLevelMediations(db, commit)
      const usedInvitations = createLevelUsedInvitations(db, commit)
      const mediationPolicy = createMediationPolicy(config.mediation, { secret: nodeSecret(keys, 'invite'), used: usedInvitations, logger })
      const resolver = createResolver()
      const envelope = createEnvelope(resolver, secret)
      const nodeDid = (): string => started(identity).did
      const live = createLiveDelivery({ mailbox, mediations, envelope, nodeDid, logger })
      const limits = { maxMessageBytes: config.maxMessageBytes, maxMediations: config.maxMediations, maxRecipientsPerClient: config.maxRecipientsPerClient }

      libp2p = await createMeshLibp2p({
        privateKey: keys.libp2p,
        datastore: await createLibp2pDatastore(db),
        host: config.host,
        port: config.p2pPort,
        wsPort: config.p2pWsPort,
        announce: config.announce,
        bootstrap: config.bootstrap,
        mdns: config.mdns,
        privateAddresses: config.privateAddresses,
        maxConnections: config.maxConnections,
        maxConnectionsPerHost: config.maxConnectionsPerHost,
        metricsRegistry: metrics.registry,
        statfsLocation: config.dataDir
      })
      // A message the mesh could not deliver is answered in its sender's own mailbox, like any message.
      const report = async (entry: OutboxEntry, code: string, comment: string): Promise<void> => {
        if (entry.origin === undefined) return
        const problem = problemReport(code, comment, { from: nodeDid(), to: entry.origin, pthid: entry.thid })
        await mailbox.add(entry.origin, await envelope.pack(problem, entry.origin, nodeDid()))
        live.queued(entry.origin, entry.origin)
      }
      mesh = createMesh({ libp2p, resolver, db, commit, logger, report, relayed: metrics.relayed }, {
        relayOpen: config.relayOpen,
        relayPrivateDestinations: config.relayPrivateDestinations,
        messageLifetimeMs: config.messageLifetimeSeconds * 1000,
        outbox: {
          maxAttempts: config.relayMaxAttempts,
          maxDelayMs: config.relayMaxDelaySeconds * 1000,
          maxPerSender: config.outboxMaxPerOrigin,
          maxMessages: config.outboxMaxMessages,
          maxBytes: config.outboxMaxBytes
        }
      })
      const dids = (): readonly string[] => identity?.dids ?? []
      const inbound = countedInbound(createInbound({
        envelope, logger, dids,
        dispatch: createDispatcher({ mailbox, mediations, mediationPolicy, resolver, live, onward: mesh.onward, ownDids: dids, ...limits })
      }), metrics)
      await libp2p.start()
      stopBootstrapDials = dialBootstrapAddresses(libp2p, config.bootstrap)
      metrics.observe({
        queued: async () => await store.queued(),
        outboxDepth: () => started(mesh).stats().outbox.depth,
        routes: () => started(mesh).stats().routes,
        liveSessions: () => live.sessions(),
        peers: () => libp2p?.getPeers().length ?? 0
      })

      // One budget per source across transports: a client's IP over HTTP and WebSocket (the real one
      // behind trusted proxies), a peer over libp2p.
      const rateLimiter = countedRateLimiter(createRateLimiter({ perSecond: config.rateLimit, burst: config.rateBurst }), metrics)
      // Fresh peer IDs cost nothing: libp2p peers from one IP address also share a larger budget, kept
      // apart from the IP's HTTP one (a mesh node relays for many wallets; wallets behind the same NAT
      // must not use up its budget, nor it theirs).
      const peersPerHost = config.rateP2pPeersPerHost
      const hostRateLimiter = countedRateLimiter(createRateLimiter({ perSecond: config.rateLimit * peersPerHost, burst: config.rateBurst * peersPerHost }), metrics)
      http = await createHttpTransport(inbound, live, {
        info: () => this.info(),
        invitation: () => this.invitation(),
        ready: () => ready,
        readiness,
        metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() })
      }, {
        maxMessageBytes: config.maxMessageBytes,
        corsOrigins: config.corsOrigins,
        websocketFrames: config.websocketFrames,
        requestTimeoutSeconds: config.requestTimeoutSeconds,
        websocketIdleSeconds: config.websocketIdleSeconds,
        rateLimiter,
        clientAddress: createClientAddress({ trustProxy: config.trustProxy, header: config.forwardedHeader }),
        publicHttps: config.publicUrl?.startsWith('https:') ?? false
      }, logger)
      await registerAdmin(http, adminToken(keys), { mediations, mailbox, live, logger })
      await http.listen({ host: config.host, port: config.httpPort })
      const address = http.server.address()
      const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort

      endpoints = endpointsFor(config, httpPort, libp2p.peerId.toString())
      identity = createDidIdentity(keys, await rememberMediatorDid(db, mediatorDid(keys, endpoints)))
      // The outbox counts what waits on disk before any transport can add to it.
      await mesh.start(identity.dids)
      // Only now can the node decrypt: until here a relaying peer finds no protocol and retries later,
      // rather than being told "rejected" and dropping the message.
      await startLibp2pTransport(libp2p, inbound, { maxMessageBytes: config.maxMessageBytes, rateLimiter, hostRateLimiter }, logger)

      const sweep = (): void => {
        mailbox.sweep(Date.now() - config.messageLifetimeSeconds * 1000)
          .then(n => { if (n > 0) logger.info({ expired: n }, 'swept expired messages') })
          .catch(err => { logger.error({ err }, 'expiry sweep failed') })
        usedInvitations.sweep(Date.now())
          .catch(err => { logger.error({ err }, 'invitation sweep failed') })
      }
      sweep()
      sweepTimer = setInterval(sweep, SWEEP_INTERVAL_MS)
      sweepTimer.unref()
      ready = true
      logger.info({ peerId: libp2p.peerId.toString(), endpoints }, 'node started')
    },

    async stop () {
      ready = false
      clearInterval(sweepTimer)
      stopBootstrapDials()
      mesh?.stop()
      await http?.close()
      await libp2p?.stop()
      await db?.close()
      http = undefined
      libp2p = undefined
      db = undefined
    },

    info () {
      const id = started(identity)
      return {
        did: id.did,
        dids: id.dids,
        peerId: started(libp2p).peerId.toString(),
        multiaddrs: started(libp2p).getMultiaddrs().map(ma => ma.toString()),
        peers: started(libp2p).getPeers().map(peer => peer.toString()),
        mesh: started(mesh).stats(),
        endpoints: started(endpoints),
        version: packageJson.version
      }
    },

    invitation () {
      return mediationInvitation(started(identity).did, started(endpoints).http)
    },

    listenUrl () {
      const address = started(http).server.address()
      if (typeof address !== 'object' || address === null) throw new Error('HTTP server is not listening')
      return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
    }
  }
}
