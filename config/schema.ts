import { isIP } from 'node:net'
import { z } from 'zod'
import { isDidWebId } from '../didcomm/did-web.ts'

const port = z.int().min(0).max(65535)
const positive = z.int().min(1)

/** An IP address or a CIDR (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr (text: string): boolean {
  const [address = '', prefix, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

/**
 * Every node option, flat so that each key maps one-to-one onto a CLI flag
 * (kebab-case) and an environment variable (DIDCOMM_MESH_ + SCREAMING_SNAKE).
 */
export const configSchema = z.object({
  dataDir: z.string().min(1).default('./data')
    .describe('Directory holding the LevelDB database and the key store'),
  store: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL').optional()
    .describe('PostgreSQL URL (postgres://user:password@host:5432/db) keeping mailboxes, mediations and the outbox, so that several replicas serve one mediator DID; unset: LevelDB in the data dir. Give it by environment, not flag: flags show in ps'),
  host: z.string().min(1).default('127.0.0.1')
    .describe('Interface the HTTP/WebSocket server and libp2p listen on'),
  httpPort: port.default(8080)
    .describe('HTTP/WebSocket port; 0 picks any free port'),
  p2pPort: port.default(4001)
    .describe('libp2p TCP port; 0 picks any free port'),
  p2pWsPort: port.optional()
    .describe('libp2p WebSocket port; 0 picks any free port; unset: --p2p-port + 1 (4002 by default; any free port when --p2p-port is 0), so nodes on one host need only different --p2p-port values'),
  publicUrl: z.url({ protocol: /^https?$/ }).optional()
    .describe('Public http(s) base URL written into the mediator DID (WebSocket endpoint: same with ws(s) scheme + /ws); derived from host and port when unset'),
  nodeName: z.string().min(1).max(64).default('didcomm-mesh node')
    .describe("A name for this node, shown on its home page and as the label of its out-of-band invitation"),
  homePage: z.boolean().default(true)
    .describe('Serve a home page at GET / to browsers (Accept: text/html): the node\'s name, DID, invitation as a QR code, endpoints and live status. DIDComm POSTs to / are served either way'),
  statusToken: z.string().min(16).optional()
    .describe('Operator token for the mesh view at GET /status (peers, routes, outbox per next hop, relay latency): sent as the password of HTTP Basic auth or as a Bearer token. Unset: no /status. Give it by environment, not flag: flags show in ps'),
  didWeb: z.string().refine(isDidWebId, 'a domain, its port as %3A<port>, then :path:segments (e.g. mediator.example.com or example.com:mediators:one)').optional()
    .describe('A stable mediator DID, did:web:<this value>, for wallets to keep when the public URL changes (a did:peer:2 names its URL): the node serves its document at https://<domain>/.well-known/did.json (or /<path>/did.json) from its HTTP port, with the keys and services of its did:peer:2, names it in invitations and /info (and in the grants of wallets that speak to it), and keeps answering its did:peer DIDs. The domain must reach this node over HTTPS (a TLS proxy)'),
  didWebPorts: z.array(z.coerce.number().pipe(port.min(1))).default([443])
    .describe("Ports this node fetches other parties' did:web documents from (a did:web may name any port, as %3A<port>, and anyone may send a message naming one); others are refused without connecting. Empty: no did:web is fetched"),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
    .describe('Log level'),
  maxMessageBytes: z.int().min(1024).default(1_048_576)
    .describe('Largest accepted DIDComm message in bytes'),
  maxMessagesPerRecipient: positive.default(10_000)
    .describe('Most messages queued for one recipient'),
  maxBytesPerRecipient: positive.default(104_857_600)
    .describe('Most bytes queued for one recipient'),
  messageLifetimeSeconds: positive.default(604_800)
    .describe('Queued messages older than this many seconds are swept'),
  maxRecipientsPerClient: positive.default(1000)
    .describe('Most recipient keys one mediated client may register'),
  maxMediations: positive.default(100_000)
    .describe('Most mediation grants this node holds'),
  mediation: z.enum(['open', 'invite', 'closed']).default('open')
    .describe('Who gets new mediation: open = anyone; invite = only a client presenting an unused invitation from `didcomm-mesh invite` (as the pthid of its mediate-request); closed = no one. Existing clients keep theirs in every mode'),
  rateLimit: z.int().min(0).default(100)
    .describe('DIDComm requests a second from one IP address (HTTP and WebSocket together) or one libp2p peer; 0 = unlimited'),
  rateBurst: positive.default(200)
    .describe('Requests one source may send at once before the rate limit applies'),
  trustProxy: z.array(z.string().refine(isAddressOrCidr, 'an IP address or CIDR')).default([])
    .describe('Addresses or CIDRs of the reverse proxies or load balancers in front of the HTTP port. Only requests from them have their forwarding header believed: the rightmost address in it that is not a trusted proxy is the client, for rate limits and logs. Any other peer is its own client, whatever it claims'),
  forwardedHeader: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for')
    .describe('The header the trusted proxies write the client address into: X-Forwarded-For (with X-Forwarded-Proto) or RFC 7239 Forwarded. The other one is ignored, since a client may have sent it through the proxy'),
  rateP2pPeersPerHost: positive.default(4)
    .describe('libp2p requests from one IP address, all its peer IDs together, get this many peers\' rate limit and burst (peer IDs cost nothing to make; HTTP and WebSocket budgets are apart)'),
  requestTimeoutSeconds: positive.default(30)
    .describe('Longest an HTTP request may take to arrive, headers and body'),
  websocketIdleSeconds: positive.default(300)
    .describe('A WebSocket not in live mode that sends nothing for this long is closed; every socket is pinged every 30 s and closed if it does not answer'),
  corsOrigins: z.array(z.string()).default(['*'])
    .describe('Origin values browser wallets may call from'),
  legacyJwe: z.boolean().default(true)
    .describe("Accept Veramo 7's JWE dialect (authcrypt by ECDH-1PU draft 03 with A256GCM, no apu/apv; anoncrypt with no apv), which didcomm-rust refuses, and answer such clients in it; every check of the standard dialect that applies is kept. false: such messages are refused as undecryptable"),
  unpackWorkers: z.int().min(0).max(64).optional()
    .describe("Worker threads that decrypt the anoncrypt layer of incoming forwards (its checks, HTTP, the store and the rest stay on the main thread); 0 = decrypt on the main thread. Unset: one fewer than the machine's cores, at most 4 (none on one core). Threads start at the first forward"),
  websocketFrames: z.enum(['auto', 'text', 'binary']).default('auto')
    .describe('WebSocket frame type for outgoing messages; auto = binary when the upgrade carried an Origin header (a browser), text otherwise'),
  bootstrap: z.array(z.string()).default([])
    .describe('Multiaddrs of mesh peers to join through: with /p2p/<peer ID>, or without one (e.g. /dns4/node1/tcp/4001) to be dialled by address until connected'),
  announce: z.array(z.string()).default([])
    .describe('Multiaddrs to announce to peers instead of the listen addresses'),
  mdns: z.boolean().default(false)
    .describe('Discover peers on the local network with mDNS'),
  privateAddresses: z.boolean().default(true)
    .describe('Share loopback and private-network addresses in the DHT (tests, LAN meshes); set false on a public mesh: such addresses, whoever announces them, are then neither stored nor dialled (nor are bootstrap names that resolve to them)'),
  maxConnections: positive.default(300)
    .describe('Most open libp2p connections'),
  maxConnectionsPerHost: positive.default(32)
    .describe('Most inbound libp2p connections from one IP address (peer IDs cost nothing to make; one machine must not take all of max-connections)'),
  inboundConnectionsPerSecond: positive.default(5)
    .describe("New inbound libp2p connections admitted per second from one IP address (libp2p's own default, 5); raise it where many peers share an address (a NAT, or a test mesh on one machine)"),
  relayOpen: z.boolean().default(false)
    .describe("Relay forwards to other mediators for anyone, not only this node's clients and mesh peers"),
  relayPrivateDestinations: z.boolean().default(false)
    .describe('Relay to HTTP mediators on loopback, private, link-local, unique-local, CGNAT and other non-public addresses (checked on every address a host name resolves to, when connecting); off: such forwards are refused'),
  relayMaxAttempts: positive.default(50)
    .describe('Tries to deliver a relayed message before it is dropped and its origin told. Tries towards a next hop are spaced 0.5 s, doubling with jitter up to relay-max-delay-seconds, so a message is given up at most (relay-max-attempts - 1) x relay-max-delay-seconds after it was queued (49 h with the defaults), or at its expiry if sooner; an HTTP next hop gets at most this many POSTs per message'),
  relayMaxDelaySeconds: positive.default(3600)
    .describe('Longest wait between two tries of a relay to an unreachable next hop'),
  outboxMaxPerOrigin: positive.default(1000)
    .describe('Messages waiting to be relayed for one origin (a client DID, or the IP address of the libp2p peers that relayed them here); more are refused with e.p.req.quota.origin'),
  outboxMaxMessages: positive.default(100_000)
    .describe('Messages waiting to be relayed in all; more are refused with e.p.req.quota.outbox'),
  outboxMaxBytes: positive.default(1024 ** 3)
    .describe('Bytes of messages waiting to be relayed in all; more are refused with e.p.req.quota.outbox'),
  pushGatewayUrl: z.url({ protocol: /^https?$/ }).optional()
    .describe('Push gateway run by the wallet vendor (who holds the FCM and APNs credentials): the node POSTs {"event":"messages-waiting","device","token","platform"} there to wake an FCM or APNs device. Unset: the FCM and APNs push protocols are not offered'),
  pushVapidSubject: z.string().regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'a mailto: or https: URL').optional()
    .describe('Contact the node gives Web Push services in its VAPID claims (mailto: or https: URL); unset: public-url when it is https, else mailto:postmaster@localhost (which some services refuse)'),
  pushHosts: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9.:[\]-]+$/, 'a host name, *.domain or IP address')).default(['fcm.googleapis.com', 'updates.push.services.mozilla.com', '*.notify.windows.com', 'web.push.apple.com'])
    .describe('Web Push services the node posts to: a subscription whose endpoint names another host is refused (e.p.req.destination-not-allowed). *.domain matches its subdomains'),
  pushPrivateDestinations: z.boolean().default(false)
    .describe('Let Web Push endpoints be plain http and on loopback, private and other non-public addresses (tests, a LAN push service); off: https only, public addresses only (checked on every address the host resolves to, when connecting)'),
  pushIntervalSeconds: positive.default(60)
    .describe('At most one push per device in this many seconds: messages arriving meanwhile are told by one more push at the end of the interval, if they still wait and the wallet is not live'),
  pushMaxAttempts: positive.default(5)
    .describe('Tries of one push (spaced 1 s, doubling up to 60 s) when the push service or gateway is unreachable or busy; 404 or 410 removes the registration at once'),
  pushQueueMax: positive.default(10_000)
    .describe('Pushes waiting to be sent or retried, in all; wake-ups past it are dropped and counted (the messages themselves stay queued)'),
  maxPushDevicesPerClient: positive.default(10)
    .describe('Most push registrations (Web Push, FCM and APNs together) one client may hold; a new one past it replaces the oldest'),
  mix: z.boolean().default(true)
    .describe('Offer this node as a mix hop: mesh peers learn its mediator DID and list it to their clients, which pick mix hops at random from those lists. false: the node is listed by no one and holds nothing; it still relays multi-hop forwards from mesh peers, without delay, and still lists other mixes to its own clients'),
  mixDelayMs: z.int().min(0).max(10_000).default(10)
    .describe('Longest random delay a mix node holds each forward relayed for a mesh peer (uniform from 0), so forwards do not leave in the order they came; 0 = no delay. Two mix hops add about this much to a message\'s latency on average'),
  mixMaxHeld: positive.default(1000)
    .describe('Forwards a mix node holds for their delay at once; more go on without delay (bounded memory)'),
  mixPeersPerHost: positive.default(2)
    .describe('Mix peers this node lists to its clients from one IP address: peer IDs cost nothing to make, and one machine must not fill the mix directory (256 peers; when full it keeps those it has and refuses newcomers). Raise it for several nodes on one machine (a local or test mesh on 127.0.0.1)')
})

export type Config = z.infer<typeof configSchema>
