import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { attachedMessage, createEnvelope } from '../didcomm/envelope.ts'
import type { Envelope, PlainMessage } from '../didcomm/envelope.ts'
import { didSecrets, generateOkpKey, peerDid2For } from '../didcomm/keys.ts'
import type { DidKeys } from '../didcomm/keys.ts'
import { createResolver } from '../didcomm/resolver.ts'
import type { DIDCommService, DIDResolver } from '../didcomm/resolver.ts'
import { fillJwe, padded, paddedEnvelope } from '../didcomm/padding.ts'
import { didcommEndpoints, postPacked } from '../didcomm/transport.ts'
import { MEDIATION_V2, MEDIATION_V3 } from '../protocols/coordinate-mediation/messages.ts'
import { DISCOVER_FEATURES_PROTOCOL } from '../protocols/discover-features/handler.ts'
import { MAX_MIX_HOPS, MIX_LIST, MIX_QUERY, mixListBody, randomSample } from '../protocols/mix-directory/messages.ts'
import { invitation, parseInvitation, parseInvitationUrl } from '../protocols/out-of-band/messages.ts'
import type { Invitation } from '../protocols/out-of-band/messages.ts'
import { PICKUP_VERSIONS } from '../protocols/pickup/messages.ts'
import type { PickupVocabulary } from '../protocols/pickup/messages.ts'
import { PROBLEM_REPORT } from '../protocols/problem-report/messages.ts'
import { PUSH_APNS } from '../protocols/push-notifications-apns/messages.ts'
import { PUSH_FCM } from '../protocols/push-notifications-fcm/messages.ts'
import { PUSH_WEBPUSH } from '../protocols/push-notifications-webpush/messages.ts'
import type { WebPushSubscription } from '../protocols/push-notifications-webpush/messages.ts'
import { forwardMessage } from '../protocols/routing/messages.ts'
import { TRUST_PING_PROTOCOL } from '../protocols/trust-ping/handler.ts'
import { MediationDeniedError, NodeRefusedError, NodeUnreachableError, NotConnectedError, NotEnoughMixesError, UnknownContactError } from './errors.ts'
import { AgentStore } from './store.ts'
import type { Contact, HomeNode } from './store.ts'
import { PROBLEM } from '../protocols/problem-report/codes.ts'

export const BASIC_MESSAGE = 'https://didcomm.org/basicmessage/2.0/message'
const PING = `${TRUST_PING_PROTOCOL}/ping`
const PING_RESPONSE = `${TRUST_PING_PROTOCOL}/ping-response`
const PICKUP_BATCH = 50
const RECONNECT_MAX_MS = 5_000
/** How long the node's list of mix nodes is used before asking again. */
const MIX_LIST_TTL_MS = 60_000
const DEFAULT_MIX_HOPS = 2

/** A message this agent received, decrypted, with the relationship it belongs to. */
export interface ReceivedMessage {
  id: string
  type: string
  body: Record<string, unknown>
  /** The sender's DID (authenticated), if any. */
  from?: string
  /** The relationship, when the sender is a contact. */
  contact?: Contact
  message: PlainMessage
}

/** Called for each received message; the message is acknowledged to the node only if it resolves. */
export type MessageHandler = (message: ReceivedMessage) => void | Promise<void>

export interface SendOptions {
  /** Mediator DIDs of extra mesh hops, in order, between this agent's node and the recipient's (instead of random mix hops). */
  via?: string[]
  /** Mix hops drawn at random for this message, 0 to 3; the agent's own setting by default. */
  mixHops?: number
}

/** A message's way to a contact: their DIDComm service, and the mesh hops before their mediator. */
interface Route {
  service: DIDCommService['serviceEndpoint']
  hops: string[]
}

export interface AgentOptions {
  /**
   * Mix hops drawn at random per message (0 to 3, default 2): mesh nodes between this agent's node
   * and the recipient's, so that neither node learns the other. When the home node offers fewer
   * usable mixes, a send fails with NotEnoughMixesError and sends nothing (never fewer hops
   * silently); no hops are needed when both ends share a node or the recipient's mediator is
   * outside the mesh.
   */
  mixHops?: number
}

export interface LiveConnection {
  close(): Promise<void>
}

/** A device the home node wakes when messages wait and the agent is not live: a browser's Web Push subscription, or an FCM or APNs token (sent through the node's push gateway). */
export type PushDevice =
  | { kind: 'webpush', subscription: Pick<WebPushSubscription, 'endpoint' | 'keys'> }
  | { kind: 'fcm', token: string, platform?: string }
  | { kind: 'apns', token: string }

export type PushKind = PushDevice['kind']

/** The devices the home node holds for this agent, each with the id its pushes carry, and what it offers. */
export interface PushDevices {
  /** The push kinds the node offers (FCM and APNs only with a push gateway). */
  offered: PushKind[]
  /** The node's VAPID public key: a browser subscribes with it as applicationServerKey. */
  vapidPublicKey?: string
  devices: Array<PushDevice & { id: string }>
}

const PUSH_PROTOCOLS: Record<PushKind, string> = { webpush: PUSH_WEBPUSH, fcm: PUSH_FCM, apns: PUSH_APNS }

function newKeys (): DidKeys {
  return { keyAgreement: generateOkpKey('X25519'), authentication: generateOkpKey('Ed25519') }
}

/**
 * A wallet's or business's agent: a persistent identity, mediation at a home node, one pairwise
 * DID per relationship, sending across the mesh and receiving by pickup or live delivery.
 */
export class MeshAgent {
  private readonly store: AgentStore
  private readonly resolver: DIDResolver
  private readonly envelope: Envelope
  /** Packs with the plaintext padded to a size bucket: what a recipient or the node reads. */
  private readonly padded: Envelope
  private readonly mixHops: number
  private mixList: { dids: string[], until: number } | undefined

  private constructor (store: AgentStore, options: AgentOptions) {
    this.store = store
    this.resolver = createResolver()
    // Every DID of the agent has its own keys.
    this.envelope = createEnvelope(this.resolver, didSecrets(did => this.store.state.keys[did]))
    this.padded = paddedEnvelope(this.envelope)
    this.mixHops = mixHopCount(options.mixHops ?? DEFAULT_MIX_HOPS)
  }

  /** Opens the agent kept in `dir`, creating a new identity there on first use. */
  static async open (dir: string, options: AgentOptions = {}): Promise<MeshAgent> {
    const store = await AgentStore.open(dir, () => {
      const keys = newKeys()
      const did = peerDid2For(keys.keyAgreement, keys.authentication, [])
      return { version: 1, did, keys: { [did]: keys }, contacts: [], invitations: [], seen: [] }
    })
    return new MeshAgent(store, options)
  }

  /** The agent's own DID, which holds the mediation. Contacts never see it. */
  get did (): string { return this.store.state.did }
  get node (): HomeNode | undefined { return this.store.state.node }
  get contacts (): readonly Contact[] { return this.store.state.contacts }

  contact (name: string): Contact {
    const found = this.store.state.contacts.find(c => c.name === name || c.theirDid === name)
    if (found === undefined) throw new UnknownContactError(`no contact named '${name}'`)
    return found
  }

  /**
   * Gets mediation from a node, named by its out-of-band invitation (URL or JSON) or its mediator DID.
   * The request refers to the invitation (pthid = its id): a node that admits by invitation needs it.
   */
  async connect (nodeRef: string, options: { mediation?: '2.0' | '3.0' } = {}): Promise<HomeNode> {
    const offer = nodeRef.startsWith('did:') ? undefined : parseInvitation(nodeRef)
    const nodeDid = offer === undefined ? nodeRef : String(offer.from)
    const version = options.mediation ?? '3.0'
    const vocabulary = version === '2.0' ? MEDIATION_V2 : MEDIATION_V3
    const reply = await this.requestTo(nodeDid, `${vocabulary.protocol}/mediate-request`, {}, offer === undefined ? {} : { pthid: offer.id })
    if (reply?.type === `${vocabulary.protocol}/mediate-deny`) {
      throw new MediationDeniedError(`${nodeDid} denied mediation (a node may admit only clients with an unused invitation from its operator)`)
    }
    if (reply?.type !== `${vocabulary.protocol}/mediate-grant`) throw new NodeRefusedError(`unexpected answer to mediate-request: ${reply?.type ?? 'none'}`, PROBLEM.msg, 0)
    const routing = reply.body.routing_did
    const routingDid = Array.isArray(routing) ? String(routing[0]) : typeof routing === 'string' ? routing : nodeDid
    const pickup = await this.pickupVersionOf(nodeDid)
    this.store.state.node = { did: nodeDid, routingDid, mediation: version, pickup }
    await this.store.save()
    return this.store.state.node
  }

  /** A business starts a relationship: a single-use invitation from a new pairwise DID. */
  async createInvitation (options: { label?: string } = {}): Promise<Invitation> {
    const node = this.requireNode()
    const myDid = await this.mintPairwiseDid()
    const { http } = await this.endpointsOf(node.did)
    const made = invitation(myDid, http, { goal_code: 'connect', goal: 'Start a private channel', ...(options.label === undefined ? {} : { label: options.label }) })
    this.store.state.invitations.push({ id: made.invitation.id, myDid, ...(options.label === undefined ? {} : { label: options.label }), createdAt: Date.now() })
    await this.store.save()
    return made
  }

  /** A customer accepts an invitation: a new pairwise DID for it, a contact, and a ping that tells the inviter our DID. */
  async acceptInvitation (url: string, options: { name?: string, label?: string } = {}): Promise<Contact> {
    const offer = parseInvitationUrl(url)
    const theirDid = String(offer.from)
    const label = typeof offer.body.label === 'string' ? offer.body.label : undefined
    const name = options.name ?? label
    // The way there first: an acceptance that cannot be sent leaves no contact behind.
    const route = await this.routeTo(theirDid, name ?? theirDid)
    const myDid = await this.mintPairwiseDid()
    const contact = await this.addContact(name, myDid, theirDid)
    await this.sendMessage(contact, {
      id: randomUUID(),
      type: PING,
      pthid: offer.id,
      body: { response_requested: false },
      ...(options.label === undefined ? {} : { label: options.label })
    }, route)
    return contact
  }

  /** Sends a basic message (a string) or any message type to a contact, across the mesh. Returns the message id. */
  async send (contactName: string, content: string | { type: string, body: Record<string, unknown> }, options: SendOptions = {}): Promise<string> {
    this.requireNode() // before connect, say so, not "no contact named …"
    const contact = this.contact(contactName)
    const message: PlainMessage = typeof content === 'string'
      ? { id: randomUUID(), type: BASIC_MESSAGE, body: { content }, lang: 'en' }
      : { id: randomUUID(), type: content.type, body: content.body }
    await this.sendMessage(contact, message, await this.routeTo(contact.theirDid, contact.name, options))
    return message.id
  }

  /**
   * The mediator DIDs of the mix nodes the home node knows (mesh peers offering to be hops), asked
   * of it at most once a minute. Empty when the node does not offer the directory: then a send that
   * wants mix hops fails.
   */
  async mixNodes (): Promise<string[]> {
    const node = this.requireNode()
    if (this.mixList !== undefined && this.mixList.until > Date.now()) return this.mixList.dids
    let dids: string[] = []
    try {
      const reply = await this.requestTo(node.did, MIX_QUERY, {})
      const parsed = mixListBody.safeParse(reply?.type === MIX_LIST ? reply.body : undefined)
      if (parsed.success) dids = parsed.data.mixes
    } catch (err) {
      // A node without the directory lists no mixes.
      if (!(err instanceof NodeRefusedError && err.code === PROBLEM.unsupported)) throw err
    }
    this.mixList = { dids, until: Date.now() + MIX_LIST_TTL_MS }
    return dids
  }

  /** Fetches every waiting message once; each is acknowledged only after `handler` succeeded for it. */
  async pickup (handler: MessageHandler = () => {}): Promise<ReceivedMessage[]> {
    const node = this.requireNode()
    const v = PICKUP_VERSIONS[node.pickup]
    const handled: ReceivedMessage[] = []
    for (;;) {
      const reply = await this.requestTo(node.did, `${v.protocol}/delivery-request`, { [v.limitField]: PICKUP_BATCH })
      const attachments = reply?.type === `${v.protocol}/delivery` ? reply.attachments ?? [] : []
      if (attachments.length === 0) return handled
      const { acknowledged, received } = await this.handleDelivery(attachments, handler)
      handled.push(...received)
      if (acknowledged.length > 0) await this.requestTo(node.did, `${v.protocol}/messages-received`, { message_id_list: acknowledged })
      // Messages whose handler failed stay queued; stop rather than fetch them again at once.
      if (acknowledged.length < attachments.length) return handled
    }
  }

  /** Live delivery over the node's WebSocket; reconnects when the socket drops. */
  async listen (handler: MessageHandler): Promise<LiveConnection> {
    const node = this.requireNode()
    const { ws: url } = await this.endpointsOf(node.did)
    if (url === undefined) throw new NotConnectedError(`${node.did} has no WebSocket endpoint`)
    const v = PICKUP_VERSIONS[node.pickup]
    let closing = false
    let socket: WebSocket | undefined
    let attempt = 0
    // Frames are handled one at a time, and close() waits for the last one's acknowledgement to go out.
    let handling = Promise.resolve()

    const open = async (): Promise<void> => {
      const ws = new WebSocket(url)
      socket = ws
      ws.on('message', (data: Buffer) => { handling = handling.then(async () => { await this.onLiveFrame(ws, data.toString('utf8'), v, handler) }) })
      ws.on('close', () => {
        if (closing) return
        const delay = Math.min(RECONNECT_MAX_MS, 100 * 2 ** attempt++)
        setTimeout(() => { void open().catch(() => {}) }, delay)
      })
      ws.on('error', () => {}) // 'close' follows and reconnects
      await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
      attempt = 0
      ws.send(await this.packFor(node.did, `${v.protocol}/live-delivery-change`, { live_delivery: true }))
    }

    try {
      await open()
    } catch (err) {
      closing = true
      throw new NodeUnreachableError(`cannot open ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    return {
      close: async () => {
        closing = true
        await handling
        const ws = socket
        if (ws === undefined || ws.readyState === WebSocket.CLOSED) return
        await new Promise<void>(resolve => { ws.once('close', () => { resolve() }); ws.close() })
      }
    }
  }

  private async onLiveFrame (ws: WebSocket, text: string, v: PickupVocabulary, handler: MessageHandler): Promise<void> {
    try {
      const { message } = await this.envelope.unpack(text)
      // Live mode refused (e.g. the node was still starting): reconnecting asks again.
      if (message.type === PROBLEM_REPORT) ws.close()
      if (message.type !== `${v.protocol}/delivery`) return
      const { acknowledged } = await this.handleDelivery(message.attachments ?? [], handler)
      if (acknowledged.length > 0 && ws.readyState === WebSocket.OPEN) {
        ws.send(await this.packFor(this.requireNode().did, `${v.protocol}/messages-received`, { message_id_list: acknowledged }))
      }
    } catch {
      // A frame we cannot read is left unacknowledged: the node keeps it queued.
    }
  }

  /** Decrypts and handles a delivery's attachments; returns the ids to acknowledge. */
  private async handleDelivery (attachments: NonNullable<PlainMessage['attachments']>, handler: MessageHandler): Promise<{ acknowledged: string[], received: ReceivedMessage[] }> {
    const acknowledged: string[] = []
    const received: ReceivedMessage[] = []
    for (const attachment of attachments) {
      const id = attachment.id
      if (id === undefined) continue
      try {
        const message = await this.receive(attachedMessage(attachment))
        if (message !== undefined) {
          await handler(message)
          received.push(message)
          this.store.markSeen(message.id)
        }
        acknowledged.push(id)
      } catch {
        // Not acknowledged: it stays queued and comes again.
      }
    }
    await this.store.save()
    return { acknowledged, received }
  }

  /** One incoming message: relationships and trust pings are handled here, everything is passed on. Undefined for a duplicate. */
  private async receive (packed: string): Promise<ReceivedMessage | undefined> {
    const { message, sender } = await this.envelope.unpack(packed)
    if (this.store.state.seen.includes(message.id)) return undefined
    // The sender's size padding means nothing to the application.
    delete message.pad
    const to = message.to?.[0]
    let contact = sender === undefined ? undefined : this.store.state.contacts.find(c => c.theirDid === sender && (to === undefined || c.myDid === to))
    const pending = this.store.state.invitations.findIndex(i => i.id === message.pthid)
    if (contact === undefined && sender !== undefined && pending >= 0) {
      // Someone accepted our invitation: the relationship starts, and the invitation is used up.
      const [used] = this.store.state.invitations.splice(pending, 1)
      contact = await this.addContact(typeof message.label === 'string' ? message.label : undefined, used?.myDid ?? '', sender)
    }
    if (message.type === PING && contact !== undefined && message.body.response_requested !== false) {
      await this.sendMessage(contact, { id: randomUUID(), type: PING_RESPONSE, thid: message.id, body: {} }, await this.routeTo(contact.theirDid, contact.name))
    }
    return { id: message.id, type: message.type, body: message.body, ...(sender === undefined ? {} : { from: sender }), ...(contact === undefined ? {} : { contact }), message }
  }

  private async addContact (wanted: string | undefined, myDid: string, theirDid: string): Promise<Contact> {
    const contacts = this.store.state.contacts
    const base = wanted ?? 'contact'
    let name = base
    for (let n = 2; contacts.some(c => c.name === name); n++) name = `${base}-${n}`
    const contact: Contact = { name, myDid, theirDid, createdAt: Date.now() }
    contacts.push(contact)
    await this.store.save()
    return contact
  }

  /** A new pairwise DID routed through the home node, registered in its keylist. */
  private async mintPairwiseDid (): Promise<string> {
    const node = this.requireNode()
    const keys = newKeys()
    const did = peerDid2For(keys.keyAgreement, keys.authentication, [{ uri: node.routingDid, accept: ['didcomm/v2'] }])
    this.store.state.keys[did] = keys
    await this.store.save()
    const vocabulary = node.mediation === '2.0' ? MEDIATION_V2 : MEDIATION_V3
    const reply = await this.requestTo(node.did, `${vocabulary.protocol}/${vocabulary.update}`, { updates: [{ recipient_did: did, action: 'add' }] })
    const result = (reply?.body.updated as Array<{ result?: string }> | undefined)?.[0]?.result
    if (result !== 'success') throw new NodeRefusedError(`the node did not register the new DID (${result ?? 'no answer'})`, PROBLEM.req, 0)
    return did
  }

  /**
   * The way to `theirDid` (`name` in errors): its DIDComm service, then the mesh hops before its
   * mediator, `via` or mix hops drawn at random. Decided before anything is stored or sent.
   */
  private async routeTo (theirDid: string, name: string, options: SendOptions = {}): Promise<Route> {
    const count = mixHopCount(options.mixHops ?? this.mixHops)
    const service = (await this.resolver.resolve(theirDid))?.service[0]?.serviceEndpoint
    if (service === undefined) throw new UnknownContactError(`${name}'s DID has no DIDComm service to send to`)
    // A mediator outside the mesh reached by URL: no mesh hop leads there.
    if (!service.uri.startsWith('did:')) return { service, hops: [] }
    return { service, hops: options.via ?? await this.drawMixes(service.uri, count) }
  }

  /**
   * Packs for the contact (plaintext padded to a size bucket), wrapped in a forward for the
   * contact's mediator, then in one for each hop of `route` and one for our own node: each node
   * learns only the hop before and the hop after it. Every forward is filled to a bucket on the
   * wire. The first hop is skipped when it is our own node.
   */
  private async sendMessage (contact: Contact, message: PlainMessage, route: Route): Promise<void> {
    const node = this.requireNode()
    const full: PlainMessage = { ...message, from: contact.myDid, to: [contact.theirDid], created_time: Math.floor(Date.now() / 1000) }
    const theirs = route.service.uri
    if (!theirs.startsWith('did:')) {
      await this.post(theirs, await sealFor(this.envelope, full, true))
      return
    }
    const meshRoute: MeshRoute = {
      mediator: { did: theirs, mesh: await this.peerOf(theirs) !== theirs },
      routingKeys: route.service.routing_keys.length > 0,
      mixes: route.hops,
      node: { did: node.did, routingDid: node.routingDid, client: this.did, mesh: await this.peerOf(node.did) !== node.did }
    }
    await this.post((await this.endpointsOf(node.did)).http, await packForMesh(this.envelope, full, meshRoute))
  }



  /**
   * `count` mix nodes in random order, from the home node's directory: never our own node nor the
   * recipient's mediator, never one node twice (compared by the libp2p peer their DIDs name, since
   * a node has several DIDs over time). None when both ends share our node: it holds both keylists,
   * so hops would hide nothing from it. None either when the recipient's mediator is outside the
   * mesh (names no libp2p peer): mixes relay for mesh peers only to mesh mediators. Otherwise
   * NotEnoughMixesError when fewer than `count` are usable: never fewer hops than asked.
   */
  private async drawMixes (theirMediator: string, count: number): Promise<string[]> {
    if (count === 0) return []
    const node = this.requireNode()
    const ends = await Promise.all([node.did, node.routingDid, theirMediator].map(async did => await this.peerOf(did)))
    if (ends[2] === theirMediator || ends.slice(0, 2).includes(ends[2] as string)) return []
    const taken = new Set(ends)
    const candidates: string[] = []
    for (const did of await this.mixNodes()) {
      const peer = await this.peerOf(did)
      if (taken.has(peer)) continue
      taken.add(peer)
      candidates.push(did)
    }
    if (candidates.length < count) throw new NotEnoughMixesError(count, candidates.length)
    return randomSample(candidates, count)
  }

  /** The libp2p peer a mediator DID names, or the DID itself when it names none. */
  private async peerOf (did: string): Promise<string> {
    return (await didcommEndpoints(this.resolver, did).catch(() => ({ libp2p: undefined }))).libp2p ?? did
  }

  private requireNode (): HomeNode {
    const node = this.store.state.node
    if (node === undefined) throw new NotConnectedError('this agent has no home node yet: connect to one first')
    return node
  }

  private async endpointsOf (nodeDid: string): Promise<{ http: string, ws?: string }> {
    const { http, ws } = await didcommEndpoints(this.resolver, nodeDid)
    if (http === undefined) throw new NodeUnreachableError(`${nodeDid} names no HTTP endpoint`)
    return { http, ws }
  }

  private async packFor (nodeDid: string, type: string, body: Record<string, unknown>, extra: Partial<PlainMessage> = {}): Promise<string> {
    return await this.padded.pack({ id: randomUUID(), type, body, from: this.did, to: [nodeDid], created_time: Math.floor(Date.now() / 1000), ...extra }, nodeDid, this.did)
  }

  /** A request to a node over HTTP: the decrypted reply, or undefined when it accepted without one. */
  private async requestTo (nodeDid: string, type: string, body: Record<string, unknown>, extra: Partial<PlainMessage> = {}): Promise<PlainMessage | undefined> {
    const text = await this.post((await this.endpointsOf(nodeDid)).http, await this.packFor(nodeDid, type, body, extra))
    if (text === '') return undefined
    const reply = (await this.envelope.unpack(text)).message
    if (reply.type === PROBLEM_REPORT) throw new NodeRefusedError(String(reply.body.comment ?? 'refused'), String(reply.body.code ?? ''), 200)
    return reply
  }

  /** POSTs a packed message; the body on 2xx, NodeRefusedError (with the problem code) otherwise. */
  private async post (url: string, packed: string): Promise<string> {
    let res: Response
    try {
      res = await postPacked(url, packed, 30_000)
    } catch (err) {
      throw new NodeUnreachableError(`cannot reach ${url}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`, { cause: err })
    }
    const text = await res.text()
    if (res.ok) return text
    let problem: { code?: string, comment?: string } = {}
    try {
      const json = JSON.parse(text) as { ciphertext?: unknown, body?: { code?: string, comment?: string } }
      problem = json.ciphertext === undefined ? json.body ?? {} : (await this.envelope.unpack(text)).message.body as typeof problem
    } catch {
      problem = { comment: text }
    }
    throw new NodeRefusedError(`${url} refused (HTTP ${res.status}): ${problem.comment ?? ''}`, problem.code ?? '', res.status)
  }

  /** Asks the home node to wake a device when messages wait while the agent is not live (several devices may be registered). */
  async setPushDevice (device: PushDevice): Promise<void> {
    const node = this.requireNode()
    const body = device.kind === 'webpush'
      ? { subscription: device.subscription }
      : { device_token: device.token, ...(device.kind === 'fcm' ? { device_platform: device.platform ?? null } : {}) }
    await this.requestTo(node.did, `${PUSH_PROTOCOLS[device.kind]}/set-device-info`, body)
  }

  /** The devices the home node wakes for this agent. */
  async pushDevices (): Promise<PushDevices> {
    const node = this.requireNode()
    const reply = await this.requestTo(node.did, `${DISCOVER_FEATURES_PROTOCOL}/queries`, { queries: [{ 'feature-type': 'protocol', match: '*push-notifications*' }] })
    const ids = new Set(((reply?.body.disclosures as Array<{ id?: unknown }> | undefined) ?? []).map(d => d.id))
    const offered = (Object.keys(PUSH_PROTOCOLS) as PushKind[]).filter(kind => ids.has(PUSH_PROTOCOLS[kind]))
    const found: PushDevices = { offered, devices: [] }
    for (const kind of offered) {
      const info = (await this.requestTo(node.did, `${PUSH_PROTOCOLS[kind]}/get-device-info`, {}))?.body ?? {}
      if (typeof info.vapid_public_key === 'string') found.vapidPublicKey = info.vapid_public_key
      for (const d of (info.devices as Array<Record<string, unknown>> | undefined) ?? []) {
        const id = String(d.id)
        if (kind === 'webpush') found.devices.push({ id, kind, subscription: d.subscription as WebPushSubscription })
        else if (kind === 'fcm') found.devices.push({ id, kind, token: String(d.device_token), ...(typeof d.device_platform === 'string' ? { platform: d.device_platform } : {}) })
        else found.devices.push({ id, kind, token: String(d.device_token) })
      }
    }
    return found
  }

  /** Stops the home node waking this agent's devices of `kind`, or of every kind it offers. */
  async removePushDevices (kind?: PushKind): Promise<void> {
    const node = this.requireNode()
    const kinds = kind === undefined ? (await this.pushDevices()).offered : [kind]
    for (const k of kinds) {
      await this.requestTo(node.did, `${PUSH_PROTOCOLS[k]}/set-device-info`, k === 'webpush' ? { subscription: null } : { device_token: null })
    }
  }

  /** Pickup 4.0 when the node discloses it, else 3.0. */
  private async pickupVersionOf (nodeDid: string): Promise<'3.0' | '4.0'> {
    const reply = await this.requestTo(nodeDid, `${DISCOVER_FEATURES_PROTOCOL}/queries`, { queries: [{ 'feature-type': 'protocol', match: PICKUP_VERSIONS['4.0'].protocol }] })
    const disclosed = (reply?.body.disclosures as unknown[] | undefined) ?? []
    return disclosed.length > 0 ? '4.0' : '3.0'
  }
}

/** A mix hop count as given, or a RangeError naming the allowed range. */
function mixHopCount (hops: number): number {
  if (!Number.isInteger(hops) || hops < 0 || hops > MAX_MIX_HOPS) throw new RangeError(`mix hops must be an integer from 0 to ${MAX_MIX_HOPS}, not ${hops}`)
  return hops
}

/** A message's way across the mesh, as its sender resolved it. */
export interface MeshRoute {
  /** The recipient's mediator, and whether it is a mesh node (names a libp2p peer). */
  mediator: { did: string, mesh: boolean }
  /** The recipient's service names routing keys: the library wraps the forwards for them and for its mediator. */
  routingKeys: boolean
  /** Mediator DIDs of the hops between the sender's node and the recipient's mediator, in order. */
  mixes: readonly string[]
  /** The sender's node (either of its DIDs), the agent DID it mediates for, and whether it is a mesh node. */
  node: { did: string, routingDid?: string, client: string, mesh: boolean }
}

/**
 * `message` (from/to set) as an agent sends it across the mesh: packed for the recipient (plaintext
 * padded to a size bucket), wrapped in a forward for the recipient's mediator, then in one for each
 * mix hop and one for the sender's own node, so each node learns only the hop before and the hop
 * after it. Every forward a mesh node reads is filled to a 2 KiB step on the wire. The node's
 * forward is left out when the path starts at the node itself.
 */
export async function packForMesh (envelope: Envelope, message: PlainMessage, route: MeshRoute): Promise<string> {
  const to = message.to?.[0] as string
  let packed = await sealFor(envelope, message, route.routingKeys)
  // A mediator outside the mesh gets its forward unfilled: it may not expect a JWE with extra members.
  if (!route.routingKeys) packed = await forwardFor(envelope, route.mediator.did, to, packed, route.mediator.mesh)
  const path = [...route.mixes, route.mediator.did]
  for (let i = path.length - 2; i >= 0; i--) packed = await forwardFor(envelope, path[i] as string, path[i + 1] as string, packed)
  const first = path[0] as string
  const { node } = route
  if (first === node.did || first === node.routingDid) return packed
  const forward = await envelope.pack(forwardMessage(first, packed, { mediator: node.did, from: node.client }), node.did, node.client)
  return node.mesh ? fillJwe(forward) : forward
}

/** `message` for its recipient, plaintext padded, the sender's key id hidden from mediators; `forward`: wrapped as the recipient's DID document asks. */
async function sealFor (envelope: Envelope, message: PlainMessage, forward: boolean): Promise<string> {
  return await envelope.pack(padded(message), message.to?.[0] as string, message.from as string, { forward, protectSender: true })
}

/** An anonymous forward for `mediator` to pass `packed` on to `next`, filled to a 2 KiB step unless `fill` is false. */
async function forwardFor (envelope: Envelope, mediator: string, next: string, packed: string, fill = true): Promise<string> {
  const forward = await envelope.anoncrypt(forwardMessage(next, packed, { mediator }), mediator)
  return fill ? fillJwe(forward) : forward
}
