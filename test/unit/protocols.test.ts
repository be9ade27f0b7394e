import assert from 'node:assert/strict'
import { createECDH, generateKeyPairSync, randomUUID } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, it } from 'node:test'
import { fromString } from 'uint8arrays'
import type { PlainMessage } from '../../didcomm/envelope.ts'
import { didKeyFromX25519 } from '../../didcomm/multikey.ts'
import { createPeerDid2, createResolver } from '../../didcomm/resolver.ts'
import type { Admission, MediationPolicy } from '../../protocols/coordinate-mediation/policy.ts'
import { httpStatusOf } from '../../node/transports/http.ts'
import { createDispatcher } from '../../protocols/index.ts'
import type { DispatcherComponents } from '../../protocols/index.ts'
import type { HandlerResult, InboundMessage, MessageContext, Session } from '../../protocols/message.ts'
import type { LiveDelivery } from '../../protocols/pickup/live.ts'
import { ProblemReportError } from '../../protocols/problem-report/error.ts'
import type { Mailbox, MailboxStatus, PushDevices, PushRegistration, QueuedMessage } from '../../storage/store.ts'
import type { KeylistResult, Mediations } from '../../storage/store.ts'

const NODE = 'did:ex:node'
const CLIENT = 'did:ex:client'
const MAX_BYTES = 123_456
const resolver = createResolver()

const rawKey = (pair: { privateKey: KeyObject }): Uint8Array => fromString(pair.privateKey.export({ format: 'jwk' }).x ?? '', 'base64url')

function newDid (uris: string[] = []): { did: string, x25519: Uint8Array } {
  const x25519 = rawKey(generateKeyPairSync('x25519'))
  return { did: createPeerDid2({ keyAgreement: [x25519], authentication: [rawKey(generateKeyPairSync('ed25519'))], services: uris.map(uri => ({ uri })) }), x25519 }
}

/** In-memory mediations with the interface's rules that the handlers rely on, recording adds. */
function stubMediations (init: { granted?: string[], recipients?: Record<string, string> } = {}) {
  const granted = new Set(init.granted ?? [])
  const holders = new Map(Object.entries(init.recipients ?? {}))
  const adds: Array<{ client: string, recipient: string, aliases: readonly string[], max?: number }> = []
  let grants = 0
  const mediations: Partial<Mediations> = {
    get: async client => granted.has(client) ? { client, grantedAt: 1 } : undefined,
    async grant (client) {
      grants++
      if (holders.has(client)) return undefined
      granted.add(client)
      return { client, grantedAt: 1 }
    },
    count: async () => granted.size,
    findRecipient: async did => holders.has(did) ? { client: holders.get(did) ?? '', recipient: did } : undefined,
    async addRecipient (client, recipient, aliases = [], max) {
      adds.push({ client, recipient, aliases, max })
      if (holders.has(recipient)) return holders.get(recipient) === client ? 'no_change' : 'client_error'
      holders.set(recipient, client)
      return 'success'
    },
    async removeRecipient (client, recipient): Promise<KeylistResult> {
      if (holders.get(recipient) !== client) return 'no_change'
      holders.delete(recipient)
      return 'success'
    },
    recipients: async client => [...holders].filter(([, c]) => c === client).map(([r]) => r),
    mailboxDids: async client => [...[...holders].filter(([, c]) => c === client).map(([r]) => r), client]
  }
  return { mediations: mediations as Mediations, adds, grants: () => grants, holders }
}

function stubPolicy (admission: Admission) {
  const asked: Array<{ client: string, invitation?: string }> = []
  const policy: MediationPolicy = { async admit (client, invitation) { asked.push({ client, invitation }); return admission } }
  return { policy, asked }
}

function stubLive (inFlight: string[] = []) {
  const acknowledged: Array<{ client: string, ids: readonly string[] }> = []
  const enabled: string[] = []
  const live: Partial<LiveDelivery> = {
    inFlight: () => new Set(inFlight),
    pushing: () => 0,
    handOut: async () => undefined,
    isLive: () => false,
    acknowledged: (client, ids) => { acknowledged.push({ client, ids }) },
    enable: async (_session, client) => { enabled.push(client); return () => {} }
  }
  return { live: live as LiveDelivery, acknowledged, enabled }
}

/** Stub components and one message's context, in one object so that each test overrides either. */
type Stub = DispatcherComponents & MessageContext

function context (over: Partial<Stub> = {}): Stub {
  const session: Session = { transport: 'http' }
  return {
    nodeDid: NODE,
    ownDids: () => [NODE],
    mailbox: {} as Mailbox,
    mediations: stubMediations().mediations,
    mediationPolicy: stubPolicy('admitted').policy,
    resolver,
    live: stubLive().live,
    onward: { open: false, destination: async () => undefined, enqueue: async () => {} },
    mixes: () => [],
    maxRecipientsPerClient: 7,
    maxMediations: 10,
    maxMessageBytes: MAX_BYTES,
    pushDevices: {} as PushDevices,
    maxPushDevicesPerClient: 3,
    webPush: { vapidPublicKey: 'vapid', endpointAllowed: () => true },
    pushGateway: true,
    session,
    receive: async () => {},
    ...over
  }
}

/** Binds the handlers to the stub's components, as the node does once, and dispatches one message. */
async function dispatch (inbound: InboundMessage, stub: Stub): Promise<HandlerResult> {
  return await createDispatcher(stub)(inbound, stub)
}

function message (type: string, body: Record<string, unknown> = {}, extra: Partial<PlainMessage> = {}): PlainMessage {
  return { id: randomUUID(), type, body, ...extra }
}

async function rejectsWith (promise: Promise<unknown>, code: string, status?: number): Promise<ProblemReportError> {
  let caught: unknown
  await assert.rejects(promise, (err: unknown) => { caught = err; return true })
  assert.ok(caught instanceof ProblemReportError, `expected a ProblemReportError, got ${String(caught)}`)
  assert.equal(caught.code, code)
  if (status !== undefined) assert.equal(httpStatusOf(caught.code), status)
  return caught
}

function onlyReply (result: HandlerResult): PlainMessage {
  assert.equal(result.replies?.length, 1)
  return result.replies?.[0] as PlainMessage
}

describe('dispatcher', () => {
  it('an unknown type is refused with e.p.msg.unsupported, naming it (cut to 100 characters)', async () => {
    const err = await rejectsWith(dispatch({ message: message('https://example.org/nope/1.0/x') }, context()), 'e.p.msg.unsupported')
    assert.match(err.message, /https:\/\/example\.org\/nope\/1\.0\/x/)
    const long = await rejectsWith(dispatch({ message: message('x'.repeat(500)) }, context()), 'e.p.msg.unsupported')
    assert.ok(long.message.includes('x'.repeat(100) + '…'))
    assert.ok(!long.message.includes('x'.repeat(101)))
  })

  it('object-prototype names are not handlers', async () => {
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      await rejectsWith(dispatch({ message: message(type) }, context()), 'e.p.msg.unsupported')
    }
  })

  it('discover-features discloses the protocols it handles, with roles, and its size constraint, matching globs', async () => {
    const query = message('https://didcomm.org/discover-features/2.0/queries', {
      queries: [
        { 'feature-type': 'protocol', match: 'https://didcomm.org/messagepickup/*' },
        { 'feature-type': 'protocol', match: 'https://didcomm.org/trust-ping/2.0' },
        { 'feature-type': 'constraint', match: '*' }
      ]
    })
    const reply = onlyReply(await dispatch({ message: query, sender: CLIENT }, context()))
    assert.equal(reply.type, 'https://didcomm.org/discover-features/2.0/disclose')
    assert.equal(reply.thid, query.id)
    assert.equal(reply.from, NODE)
    assert.deepEqual(reply.to, [CLIENT])
    assert.deepEqual(reply.body.disclosures, [
      { 'feature-type': 'protocol', id: 'https://didcomm.org/messagepickup/3.0', roles: ['mediator'] },
      { 'feature-type': 'protocol', id: 'https://didcomm.org/trust-ping/2.0', roles: ['receiver'] },
      { 'feature-type': 'constraint', id: 'max_receive_bytes', value: MAX_BYTES }
    ])

    const all = onlyReply(await dispatch({ message: message('https://didcomm.org/discover-features/2.0/queries', { queries: [{ 'feature-type': 'protocol', match: '*' }] }) }, context()))
    const ids = (all.body.disclosures as Array<{ id: string }>).map(d => d.id)
    for (const id of ['https://didcomm.org/routing/2.0', 'https://didcomm.org/coordinate-mediation/2.0', 'https://didcomm.org/coordinate-mediation/3.0',
      'https://didcomm.org/message-pickup/4.0', 'https://didcomm.org/discover-features/2.0', 'https://didcomm.org/report-problem/2.0']) {
      assert.ok(ids.includes(id), `discloses ${id}`)
    }

    // A glob is anchored and its other characters are literal.
    const none = onlyReply(await dispatch({ message: message('https://didcomm.org/discover-features/2.0/queries', {
      queries: [{ 'feature-type': 'protocol', match: 'https://didcomm.org/messagepickup' }, { 'feature-type': 'protocol', match: 'https://didcomm.org/trust.ping/2.0' }, { 'feature-type': 'goal-code', match: '*' }]
    }) }, context()))
    assert.deepEqual(none.body.disclosures, [])
  })

  it('a malformed discover-features query is refused with e.p.msg.malformed', async () => {
    await rejectsWith(dispatch({ message: message('https://didcomm.org/discover-features/2.0/queries', { queries: 'all' }) }, context()), 'e.p.msg.malformed')
  })
})

describe('trust-ping', () => {
  const PING = 'https://didcomm.org/trust-ping/2.0/ping'

  it('answers an authenticated ping on its thread; not when no response is requested, nor an anonymous one', async () => {
    const ping = message(PING, { response_requested: true })
    const reply = onlyReply(await dispatch({ message: ping, sender: CLIENT }, context()))
    assert.equal(reply.type, 'https://didcomm.org/trust-ping/2.0/ping-response')
    assert.equal(reply.thid, ping.id)
    assert.equal(reply.from, NODE)
    assert.deepEqual(reply.to, [CLIENT])

    // A response is the default; a ping inside a thread is answered on that thread.
    const threaded = onlyReply(await dispatch({ message: message(PING, {}, { thid: 'the-thread' }), sender: CLIENT }, context()))
    assert.equal(threaded.thid, 'the-thread')

    assert.deepEqual(await dispatch({ message: message(PING, { response_requested: false }), sender: CLIENT }, context()), {})
    assert.deepEqual(await dispatch({ message: message(PING, { response_requested: true }) }, context()), {})
    await rejectsWith(dispatch({ message: message(PING, { response_requested: 'yes' }), sender: CLIENT }, context()), 'e.p.msg.malformed')
  })
})

describe('coordinate-mediation', () => {
  const V2 = 'https://didcomm.org/coordinate-mediation/2.0'
  const V3 = 'https://didcomm.org/coordinate-mediation/3.0'

  it('mediate-request: granted when the policy admits, with routing_did as each version wants it', async () => {
    const m = stubMediations()
    const p = stubPolicy('admitted')
    const request = message(`${V2}/mediate-request`, {}, { pthid: 'invitation-1' })
    const v2 = onlyReply(await dispatch({ message: request, sender: CLIENT }, context({ mediations: m.mediations, mediationPolicy: p.policy })))
    assert.equal(v2.type, `${V2}/mediate-grant`)
    assert.equal(v2.body.routing_did, NODE)
    assert.equal(v2.thid, request.id)
    assert.deepEqual(p.asked, [{ client: CLIENT, invitation: 'invitation-1' }], 'the invitation is the pthid')
    assert.ok(await m.mediations.get(CLIENT))

    // Asking again once granted does not go through the policy (an invitation is not used twice).
    const v3 = onlyReply(await dispatch({ message: message(`${V3}/mediate-request`), sender: CLIENT }, context({ mediations: m.mediations, mediationPolicy: p.policy })))
    assert.equal(v3.type, `${V3}/mediate-grant`)
    assert.deepEqual(v3.body.routing_did, [NODE])
    assert.equal(p.asked.length, 1)
  })

  it('mediate-request: denied by the policy, when full (policy not asked), or when the DID is held as a recipient', async () => {
    const closed = stubMediations()
    const deny = stubPolicy('closed')
    const denied = onlyReply(await dispatch({ message: message(`${V3}/mediate-request`), sender: CLIENT }, context({ mediations: closed.mediations, mediationPolicy: deny.policy })))
    assert.equal(denied.type, `${V3}/mediate-deny`)
    assert.equal(closed.grants(), 0)

    const full = stubMediations({ granted: ['did:ex:a', 'did:ex:b'] })
    const admit = stubPolicy('admitted')
    const refused = onlyReply(await dispatch({ message: message(`${V2}/mediate-request`), sender: CLIENT }, context({ mediations: full.mediations, mediationPolicy: admit.policy, maxMediations: 2 })))
    assert.equal(refused.type, `${V2}/mediate-deny`)
    assert.equal(admit.asked.length, 0, 'a full node does not use up the client\'s invitation')

    const held = stubMediations({ recipients: { [CLIENT]: 'did:ex:other' } })
    const asRecipient = onlyReply(await dispatch({ message: message(`${V2}/mediate-request`), sender: CLIENT }, context({ mediations: held.mediations, mediationPolicy: admit.policy })))
    assert.equal(asRecipient.type, `${V2}/mediate-deny`)
    assert.equal(held.grants(), 0)

    await rejectsWith(dispatch({ message: message(`${V2}/mediate-request`) }, context()), 'e.p.trust.crypto.unauthenticated', 401)
  })

  it('recipient-update: results per update; an agent DID is added with its did:key alias; own, mediator, bare peer:4 and unresolvable DIDs are client errors', async () => {
    const m = stubMediations({ granted: [CLIENT] })
    const agent = newDid()
    const mediator = newDid(['https://mediator.example/'])
    const update = message(`${V3}/recipient-update`, {
      updates: [
        { recipient_did: agent.did, action: 'add' },
        { recipient_did: agent.did, action: 'add' },
        { recipient_did: NODE, action: 'add' },
        { recipient_did: mediator.did, action: 'add' },
        { recipient_did: 'did:peer:4zQmd8CpeFPci817KDsbSAKWcXAE2mjvCQSasRqGBBDmrspu', action: 'add' },
        { recipient_did: 'did:ex:unresolvable', action: 'add' },
        { recipient_key: agent.did, action: 'remove' },
        { recipient_did: agent.did, action: 'remove' }
      ]
    })
    const reply = onlyReply(await dispatch({ message: update, sender: CLIENT }, context({ mediations: m.mediations })))
    assert.equal(reply.type, `${V3}/recipient-update-response`)
    assert.deepEqual((reply.body.updated as Array<{ result: string }>).map(u => u.result),
      ['success', 'no_change', 'client_error', 'client_error', 'client_error', 'client_error', 'success', 'no_change'])
    assert.equal((reply.body.updated as Array<{ recipient_did: string }>)[6]?.recipient_did, agent.did, 'recipient_key is read as recipient_did')
    assert.equal(m.adds.length, 2, 'refused DIDs never reach the store')
    assert.deepEqual(m.adds[0], { client: CLIENT, recipient: agent.did, aliases: [didKeyFromX25519(agent.x25519)], max: 7 })
  })

  it('recipient-update and query need a mediation; a bad body is malformed; the query pages', async () => {
    await rejectsWith(dispatch({ message: message(`${V2}/keylist-update`, { updates: [] }), sender: CLIENT }, context()), 'e.p.req.not-enrolled', 403)
    const m = stubMediations({ granted: [CLIENT], recipients: { 'did:ex:r1': CLIENT, 'did:ex:r2': CLIENT, 'did:ex:r3': CLIENT, 'did:ex:x': 'did:ex:other' } })
    await rejectsWith(dispatch({ message: message(`${V2}/keylist-update`, { updates: [{ recipient_did: 'did:ex:r9', action: 'replace' }] }), sender: CLIENT }, context({ mediations: m.mediations })), 'e.p.msg.malformed')

    const page = onlyReply(await dispatch({ message: message(`${V2}/keylist-query`, { paginate: { limit: 2, offset: 1 } }), sender: CLIENT }, context({ mediations: m.mediations })))
    assert.equal(page.type, `${V2}/keylist`)
    assert.deepEqual(page.body, { keys: [{ recipient_did: 'did:ex:r2' }, { recipient_did: 'did:ex:r3' }], pagination: { count: 2, offset: 1, remaining: 0 } })
    const v3 = onlyReply(await dispatch({ message: message(`${V3}/recipient-query`), sender: CLIENT }, context({ mediations: m.mediations })))
    assert.deepEqual(v3.body.dids, [{ recipient_did: 'did:ex:r1' }, { recipient_did: 'did:ex:r2' }, { recipient_did: 'did:ex:r3' }])
  })
})

describe('pickup', () => {
  const V3 = 'https://didcomm.org/messagepickup/3.0'
  const V4 = 'https://didcomm.org/message-pickup/4.0'

  function stubMailbox (statuses: Record<string, MailboxStatus>, queued: QueuedMessage[] = []) {
    const calls = { status: [] as Array<{ recipient: string, exclude: string[] }>, list: [] as Array<{ recipients: readonly string[], limit: number, exclude: string[], maxBytes?: number }>, remove: [] as Array<{ recipients: readonly string[], ids: readonly string[] }> }
    const mailbox: Partial<Mailbox> = {
      async status (recipient, exclude = new Set()) { calls.status.push({ recipient, exclude: [...exclude] }); return statuses[recipient] ?? { count: 0, bytes: 0 } },
      async list (recipients, limit, exclude = new Set(), maxBytes) { calls.list.push({ recipients, limit, exclude: [...exclude], maxBytes }); return queued.slice(0, limit) },
      async remove (recipients, ids) { calls.remove.push({ recipients, ids }); return ids.length }
    }
    return { mailbox: mailbox as Mailbox, calls }
  }

  const mediations = stubMediations({ granted: [CLIENT], recipients: { 'did:ex:r1': CLIENT, 'did:ex:r2': CLIENT } }).mediations

  it('status-request sums the client\'s mailboxes, excluding messages in flight; a recipient not held is refused', async () => {
    const box = stubMailbox({
      'did:ex:r1': { count: 2, bytes: 20, oldest: 5_000, newest: 9_000 },
      'did:ex:r2': { count: 1, bytes: 7, oldest: 3_000, newest: 3_000 }
    })
    const live = stubLive(['in-flight-id'])
    const request = message(`${V3}/status-request`)
    const reply = onlyReply(await dispatch({ message: request, sender: CLIENT }, context({ mediations, mailbox: box.mailbox, live: live.live })))
    assert.equal(reply.type, `${V3}/status`)
    assert.equal(reply.thid, request.id)
    assert.equal(reply.body.message_count, 3)
    assert.equal(reply.body.total_bytes, 27)
    assert.equal(reply.body.live_delivery, false)
    assert.equal(reply.body.oldest_received_time, 3)
    assert.equal(reply.body.newest_received_time, 9)
    assert.deepEqual(box.calls.status.map(s => s.recipient).sort(), [CLIENT, 'did:ex:r1', 'did:ex:r2'])
    for (const s of box.calls.status) assert.deepEqual(s.exclude, ['in-flight-id'])

    const one = onlyReply(await dispatch({ message: message(`${V4}/status-request`, { recipient_did: 'did:ex:r2' }), sender: CLIENT }, context({ mediations, mailbox: box.mailbox })))
    assert.equal(one.body.recipient_did, 'did:ex:r2')
    assert.equal(one.body.message_count, 1)
    assert.equal(one.body.oldest_received_time, 3_000, '4.0 counts milliseconds')

    await rejectsWith(dispatch({ message: message(`${V3}/status-request`, { recipient_did: 'did:ex:x' }), sender: CLIENT }, context({ mediations, mailbox: box.mailbox })), 'e.p.req.recipient-not-held', 403)
    await rejectsWith(dispatch({ message: message(`${V3}/status-request`), sender: 'did:ex:stranger' }, context({ mediations, mailbox: box.mailbox })), 'e.p.req.not-enrolled')
  })

  it('delivery-request attaches the oldest messages (capped at 1000 and 1 MiB, excluding in-flight); an empty 3.0 request gets a status, 4.0 an empty delivery', async () => {
    const queued = [{ id: 'id-1', receivedAt: 1, size: 5, message: 'first' }, { id: 'id-2', receivedAt: 2, size: 6, message: 'second' }]
    const box = stubMailbox({}, queued)
    const live = stubLive(['in-flight-id'])
    const request = message(`${V3}/delivery-request`, { limit: 5000 })
    const reply = onlyReply(await dispatch({ message: request, sender: CLIENT }, context({ mediations, mailbox: box.mailbox, live: live.live })))
    assert.equal(reply.type, `${V3}/delivery`)
    assert.equal(reply.thid, request.id)
    assert.deepEqual(reply.attachments?.map(a => [a.id, Buffer.from((a.data as { base64: string }).base64, 'base64').toString()]), [['id-1', 'first'], ['id-2', 'second']])
    assert.equal(box.calls.list[0]?.limit, 1000)
    assert.equal(box.calls.list[0]?.maxBytes, 1_048_576)
    assert.deepEqual(box.calls.list[0]?.exclude, ['in-flight-id'])
    assert.deepEqual([...box.calls.list[0]?.recipients ?? []].sort(), [CLIENT, 'did:ex:r1', 'did:ex:r2'])

    const empty = stubMailbox({})
    const v3 = onlyReply(await dispatch({ message: message(`${V3}/delivery-request`, { limit: 10 }), sender: CLIENT }, context({ mediations, mailbox: empty.mailbox })))
    assert.equal(v3.type, `${V3}/status`)
    const v4 = onlyReply(await dispatch({ message: message(`${V4}/delivery-request`, { message_count_limit: 10 }), sender: CLIENT }, context({ mediations, mailbox: empty.mailbox })))
    assert.equal(v4.type, `${V4}/delivery`)
    assert.deepEqual(v4.attachments, [])
    await rejectsWith(dispatch({ message: message(`${V4}/delivery-request`, { limit: 10 }), sender: CLIENT }, context({ mediations, mailbox: empty.mailbox })), 'e.p.msg.malformed')
  })

  it('messages-received removes from the client\'s mailboxes, tells live delivery, and answers with a status', async () => {
    const box = stubMailbox({})
    const live = stubLive()
    const reply = onlyReply(await dispatch({ message: message(`${V3}/messages-received`, { message_id_list: ['id-1', 'id-2'] }), sender: CLIENT }, context({ mediations, mailbox: box.mailbox, live: live.live })))
    assert.equal(reply.type, `${V3}/status`)
    assert.deepEqual(box.calls.remove.map(r => r.ids), [['id-1', 'id-2']])
    assert.deepEqual([...box.calls.remove[0]?.recipients ?? []].sort(), [CLIENT, 'did:ex:r1', 'did:ex:r2'])
    assert.deepEqual(live.acknowledged, [{ client: CLIENT, ids: ['id-1', 'id-2'] }])
  })

  it('live-delivery-change needs a session that can push', async () => {
    const box = stubMailbox({})
    const live = stubLive()
    await rejectsWith(dispatch({ message: message(`${V3}/live-delivery-change`, { live_delivery: true }), sender: CLIENT }, context({ mediations, mailbox: box.mailbox, live: live.live })), 'e.m.live-mode-not-supported')
    assert.deepEqual(live.enabled, [])
    const result = await dispatch({ message: message(`${V3}/live-delivery-change`, { live_delivery: true }), sender: CLIENT }, context({ mediations, mailbox: box.mailbox, live: live.live, session: { transport: 'websocket', push: () => {} } }))
    assert.deepEqual(live.enabled, [CLIENT])
    assert.equal(typeof result.after, 'function', 'the backlog is pushed after the status')
  })
})

describe('push notifications', () => {
  const FCM = 'https://didcomm.org/push-notifications-fcm/1.0'
  const WEBPUSH = 'https://didcomm-mesh.org/push-notifications-webpush/1.0'

  /** In-memory devices; `revoked` makes register find no mediation, as when a revoke won the race. */
  function stubDevices (revoked = false) {
    const held: PushRegistration[] = []
    const changes: Array<[string, string, number]> = []
    const pushDevices: Pick<PushDevices, 'register' | 'list' | 'clear'> = {
      register: async (r, max) => {
        if (revoked) return undefined
        held.push(r)
        assert.equal(max, 3)
        return r
      },
      list: async (client, kind) => held.filter(d => d.client === client && (kind === undefined || d.kind === kind)),
      clear: async (client, kind) => {
        const gone = held.filter(d => d.client === client && d.kind === kind)
        held.splice(0, held.length, ...held.filter(d => !gone.includes(d)))
        return gone.length
      }
    }
    return { pushDevices: pushDevices as PushDevices, held, changes, pushRegistrations: (kind: string, change: string, count: number) => { changes.push([kind, change, count]) } }
  }

  it('set-device-info registers for the sender, has no reply, and a null token clears only that kind; device-info answers with ids', async () => {
    const devices = stubDevices()
    const stub = context({ mediations: stubMediations({ granted: [CLIENT] }).mediations, pushDevices: devices.pushDevices, pushRegistrations: devices.pushRegistrations })
    assert.deepEqual(await dispatch({ message: message(`${FCM}/set-device-info`, { device_token: 'tok', device_platform: 'android' }), sender: CLIENT }, stub), {})
    await dispatch({ message: message(`${WEBPUSH}/set-device-info`, { subscription: { endpoint: 'https://push.example/x', keys: { p256dh: createEcdhKey(), auth: 'A'.repeat(22) } } }), sender: CLIENT }, stub)
    assert.deepEqual(devices.held.map(d => [d.client, d.kind, d.token, d.platform]), [[CLIENT, 'fcm', 'tok', 'android'], [CLIENT, 'webpush', 'https://push.example/x', undefined]])
    assert.match(devices.held[0]?.id ?? '', /^[\w-]{22}$/, 'a random id')
    const info = onlyReply(await dispatch({ message: message(`${FCM}/get-device-info`), sender: CLIENT }, stub))
    assert.deepEqual(info.body, { device_token: 'tok', device_platform: 'android', devices: [{ id: devices.held[0]?.id, device_token: 'tok', device_platform: 'android' }] })
    assert.equal(info.type, `${FCM}/device-info`)
    await dispatch({ message: message(`${FCM}/set-device-info`, { device_token: null }), sender: CLIENT }, stub)
    assert.deepEqual(devices.held.map(d => d.kind), ['webpush'])
    assert.deepEqual(devices.changes, [['fcm', 'set', 1], ['webpush', 'set', 1], ['fcm', 'removed', 1]])
  })

  it('refusals: anonymous, not mediated, mediation revoked meanwhile, an endpoint the node may not post to', async () => {
    const stub = context({ mediations: stubMediations({ granted: [CLIENT] }).mediations, pushDevices: stubDevices(true).pushDevices, webPush: { vapidPublicKey: 'vapid', endpointAllowed: url => url.startsWith('https://push.example/') } })
    await rejectsWith(dispatch({ message: message(`${FCM}/get-device-info`) }, stub), 'e.p.trust.crypto.unauthenticated')
    await rejectsWith(dispatch({ message: message(`${FCM}/get-device-info`), sender: 'did:ex:stranger' }, stub), 'e.p.req.not-enrolled', 403)
    await rejectsWith(dispatch({ message: message(`${FCM}/set-device-info`, { device_token: 'tok' }), sender: CLIENT }, stub), 'e.p.req.not-enrolled', 403)
    const keys = { p256dh: createEcdhKey(), auth: 'A'.repeat(22) }
    const err = await rejectsWith(dispatch({ message: message(`${WEBPUSH}/set-device-info`, { subscription: { endpoint: 'https://169.254.169.254/latest', keys } }), sender: CLIENT }, stub), 'e.p.req.destination-not-allowed', 403)
    assert.ok(!err.message.includes('169.254'), 'the comment does not echo the endpoint')
  })

  it('without a gateway, FCM and APNs are not handled', async () => {
    await rejectsWith(dispatch({ message: message(`${FCM}/set-device-info`, { device_token: 'tok' }), sender: CLIENT }, context({ pushGateway: false })), 'e.p.msg.unsupported')
  })
})

function createEcdhKey (): string {
  const ecdh = createECDH('prime256v1')
  ecdh.generateKeys()
  return ecdh.getPublicKey().toString('base64url')
}
describe('mix directory', () => {
  const MIX_QUERY = 'https://didcomm-mesh.org/mix-directory/1.0/query'

  it('answers a client of this node with the mix DIDs, at most 64 drawn at random; discover-features discloses it', async () => {
    const many = Array.from({ length: 100 }, (_, i) => `did:ex:mix-${i}`)
    const stub = context({ mediations: stubMediations({ granted: [CLIENT] }).mediations, mixes: () => many })
    const query = message(MIX_QUERY)
    const reply = onlyReply(await dispatch({ message: query, sender: CLIENT }, stub))
    assert.equal(reply.type, 'https://didcomm-mesh.org/mix-directory/1.0/mixes')
    assert.equal(reply.thid, query.id)
    const listed = reply.body.mixes as string[]
    assert.equal(listed.length, 64)
    assert.equal(new Set(listed).size, 64)
    assert.ok(listed.every(did => many.includes(did)))
    const again = onlyReply(await dispatch({ message: message(MIX_QUERY), sender: CLIENT }, stub)).body.mixes as string[]
    assert.notDeepEqual(again, listed, 'a fresh sample each time')

    const few = onlyReply(await dispatch({ message: message(MIX_QUERY), sender: CLIENT }, context({ mediations: stubMediations({ granted: [CLIENT] }).mediations, mixes: () => ['did:ex:a'] })))
    assert.deepEqual(few.body.mixes, ['did:ex:a'])

    const features = onlyReply(await dispatch({ message: message('https://didcomm.org/discover-features/2.0/queries', { queries: [{ 'feature-type': 'protocol', match: 'https://didcomm-mesh.org/mix-directory/*' }] }) }, context()))
    assert.deepEqual(features.body.disclosures, [{ 'feature-type': 'protocol', id: 'https://didcomm-mesh.org/mix-directory/1.0', roles: ['responder'] }])
  })

  it('refuses an anonymous sender and a DID holding no mediation here', async () => {
    const stub = context({ mixes: () => ['did:ex:a'] })
    await rejectsWith(dispatch({ message: message(MIX_QUERY) }, stub), 'e.p.trust.crypto.unauthenticated', 401)
    await rejectsWith(dispatch({ message: message(MIX_QUERY), sender: 'did:ex:stranger' }, stub), 'e.p.req.not-enrolled', 403)
  })
})
