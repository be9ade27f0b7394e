import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminToken } from '../../node/admin.ts'
import { PUSH_APNS } from '../../protocols/push-notifications-apns/messages.ts'
import { PUSH_FCM } from '../../protocols/push-notifications-fcm/messages.ts'
import { PUSH_WEBPUSH } from '../../protocols/push-notifications-webpush/messages.ts'
import { loadOrCreateNodeKeys } from '../../storage/node-key-file.ts'
import { BASIC, CM3, FrameSocket, PICKUP3, TestAgent, post, sendTo } from '../helpers/client.ts'
import type { Plain } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { LoggedTestNode, TestNode } from '../helpers/node.ts'
import { startPushGateway, startWebPushService } from '../helpers/push.ts'
import type { PushGateway, TestSubscription, WebPushService } from '../helpers/push.ts'

const DISCOVER = 'https://didcomm.org/discover-features/2.0/queries'

/** Posts an authcrypted request: the HTTP status and the decrypted answer, if there is one (set-device-info has none: 202). */
async function ask (agent: TestAgent, node: TestNode, type: string, body: Record<string, unknown>): Promise<{ status: number, reply?: Plain }> {
  const answer = await post(node.url, await agent.pack(agent.message(type, body, node.did), node.did))
  return { status: answer.status, ...(answer.text === '' ? {} : { reply: (await agent.unpack(answer.text)).message }) }
}

async function setDevice (agent: TestAgent, node: TestNode, protocol: string, body: Record<string, unknown>): Promise<void> {
  const { status, reply } = await ask(agent, node, `${protocol}/set-device-info`, body)
  assert.equal(status, 202, JSON.stringify(reply?.body))
}

async function deviceInfo (agent: TestAgent, node: TestNode, protocol: string): Promise<Record<string, unknown>> {
  const { reply } = await ask(agent, node, `${protocol}/get-device-info`, {})
  assert.equal(reply?.type, `${protocol}/device-info`)
  return reply.body
}

const deviceIds = (info: Record<string, unknown>): string[] => (info.devices as Array<{ id: string }>).map(d => d.id)

/** A wallet with mediation and one pairwise DID, registered for Web Push with a new subscription at `service`. */
async function webPushWallet (node: TestNode, service: WebPushService): Promise<{ wallet: TestAgent, pairwise: string, sub: TestSubscription, device: string }> {
  const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
  const sub = service.subscribe()
  await setDevice(wallet, node, PUSH_WEBPUSH, { subscription: sub.subscription })
  const [device] = deviceIds(await deviceInfo(wallet, node, PUSH_WEBPUSH))
  assert.ok(device !== undefined)
  return { wallet, pairwise, sub, device }
}

const pushesTo = (service: WebPushService, sub: TestSubscription): WebPushService['received'] => service.received.filter(p => p.subscription === sub.id)

describe('push notifications', () => {
  const nodes = testNodes(undefined, { logs: true })
  let service: WebPushService
  let gateway: PushGateway
  let node: LoggedTestNode

  before(async () => {
    service = await startWebPushService()
    gateway = await startPushGateway()
    node = await nodes.start({ pushHosts: ['127.0.0.1'], pushPrivateDestinations: true, pushGatewayUrl: gateway.url, pushIntervalSeconds: 2, maxPushDevicesPerClient: 3 })
  })
  after(async () => {
    await nodes.stopAll()
    await service.close()
    await gateway.close()
  })

  it('registration over DIDComm: Web Push, FCM and APNs are disclosed, set, shown and removed', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const { reply: disclosed } = await ask(wallet, node, DISCOVER, { queries: [{ 'feature-type': 'protocol', match: '*push-notifications*' }] })
    assert.deepEqual((disclosed?.body.disclosures as Array<{ id: string }>).map(d => d.id).sort(), [PUSH_APNS, PUSH_FCM, PUSH_WEBPUSH].sort())

    const empty = await deviceInfo(wallet, node, PUSH_WEBPUSH)
    assert.match(String(empty.vapid_public_key), /^[\w-]{87}$/, 'the key a browser subscribes with')
    assert.equal(empty.subscription, null)
    const sub = service.subscribe()
    await setDevice(wallet, node, PUSH_WEBPUSH, { subscription: { ...sub.subscription, expirationTime: null } })
    const shown = await deviceInfo(wallet, node, PUSH_WEBPUSH)
    assert.deepEqual(shown.subscription, sub.subscription)
    assert.equal(deviceIds(shown).length, 1)

    await setDevice(wallet, node, PUSH_FCM, { device_token: 'fcm-token-1', device_platform: 'android' })
    const fcm = await deviceInfo(wallet, node, PUSH_FCM)
    assert.equal(fcm.device_token, 'fcm-token-1')
    assert.equal(fcm.device_platform, 'android')
    await setDevice(wallet, node, PUSH_APNS, { device_token: 'a'.repeat(64) })
    assert.equal((await deviceInfo(wallet, node, PUSH_APNS)).device_token, 'a'.repeat(64))

    // Past the cap (3 here), the oldest registration goes.
    await setDevice(wallet, node, PUSH_FCM, { device_token: 'fcm-token-2', device_platform: 'ios' })
    assert.deepEqual(await deviceInfo(wallet, node, PUSH_WEBPUSH), { ...empty, devices: [] })
    assert.deepEqual((await deviceInfo(wallet, node, PUSH_FCM)).devices, [
      { id: deviceIds(fcm)[0], device_token: 'fcm-token-1', device_platform: 'android' },
      { id: deviceIds(await deviceInfo(wallet, node, PUSH_FCM))[1], device_token: 'fcm-token-2', device_platform: 'ios' }
    ])

    // A null token removes the client's devices of that kind, and only those.
    await setDevice(wallet, node, PUSH_FCM, { device_token: null, device_platform: null })
    assert.deepEqual(await deviceInfo(wallet, node, PUSH_FCM), { device_token: null, device_platform: null, devices: [] })
    assert.equal(deviceIds(await deviceInfo(wallet, node, PUSH_APNS)).length, 1)
    await setDevice(wallet, node, PUSH_APNS, { device_token: null })
    assert.deepEqual(await deviceInfo(wallet, node, PUSH_APNS), { device_token: null, devices: [] })
  })

  it('bad registrations get a clear problem report: a disallowed endpoint, bad keys, oversized tokens, no mediation, no authentication', async () => {
    const { wallet } = await TestAgent.mediatedWallet(node)
    const sub = service.subscribe().subscription
    // Another y for the same x: no point of the curve (only ±y are).
    const offCurve = sub.keys.p256dh.slice(0, 60) + (sub.keys.p256dh[60] === 'A' ? 'B' : 'A') + sub.keys.p256dh.slice(61)
    const refusals: Array<[string, string, Record<string, unknown>, number, string]> = [
      [PUSH_WEBPUSH, 'not an allowed push service', { subscription: { ...sub, endpoint: 'https://push.evil.example/x' } }, 403, 'e.p.req.destination-not-allowed'],
      [PUSH_WEBPUSH, 'not a URL', { subscription: { ...sub, endpoint: 'not a url' } }, 403, 'e.p.req.destination-not-allowed'],
      [PUSH_WEBPUSH, 'a key that is no P-256 point', { subscription: { ...sub, keys: { ...sub.keys, p256dh: offCurve } } }, 400, 'e.p.msg.malformed'],
      [PUSH_WEBPUSH, 'an auth secret of the wrong size', { subscription: { ...sub, keys: { ...sub.keys, auth: 'abc' } } }, 400, 'e.p.msg.malformed'],
      [PUSH_WEBPUSH, 'an endpoint of 10 kB', { subscription: { ...sub, endpoint: `${service.url}/${'x'.repeat(10_000)}` } }, 400, 'e.p.msg.malformed'],
      [PUSH_WEBPUSH, 'no subscription at all', {}, 400, 'e.p.msg.malformed'],
      [PUSH_FCM, 'a token of 10 kB', { device_token: 'x'.repeat(10_000) }, 400, 'e.p.msg.malformed'],
      [PUSH_FCM, 'a token that is not a string', { device_token: 42 }, 400, 'e.p.msg.malformed'],
      [PUSH_APNS, 'a token with spaces', { device_token: 'a b' }, 400, 'e.p.msg.malformed']
    ]
    for (const [protocol, what, body, status, code] of refusals) {
      const answer = await ask(wallet, node, `${protocol}/set-device-info`, body)
      assert.equal(answer.status, status, what)
      assert.equal(answer.reply?.body.code, code, what)
      assert.ok(!String(answer.reply?.body.comment).includes('evil'), 'the comment does not echo the URL')
    }
    for (const protocol of [PUSH_WEBPUSH, PUSH_FCM, PUSH_APNS]) assert.deepEqual(deviceIds(await deviceInfo(wallet, node, protocol)), [], 'nothing was registered')

    const stranger = new TestAgent()
    const notEnrolled = await ask(stranger, node, `${PUSH_WEBPUSH}/set-device-info`, { subscription: sub })
    assert.equal(notEnrolled.reply?.body.code, 'e.p.req.not-enrolled')
    const anonymous = stranger.message(`${PUSH_FCM}/get-device-info`, {}, node.did)
    delete anonymous.from
    const refused = await post(node.url, await stranger.pack(anonymous, node.did, null))
    assert.equal((JSON.parse(refused.text) as Plain).body.code, 'e.p.trust.crypto.unauthenticated')
  })

  it('a forward to an offline wallet wakes it within a second with one push it can decrypt, naming only its device; more within the interval are folded into one push at its end', async () => {
    const { wallet, pairwise, sub, device } = await webPushWallet(node, service)
    const started = Date.now()
    const first = await sendTo(node, pairwise, 'wake up')
    const [push] = await waitFor(() => pushesTo(service, sub).length > 0 ? pushesTo(service, sub) : undefined, 1000, 'a push within a second')
    assert.ok(push !== undefined && push.at - started < 1000, `${(push?.at ?? 0) - started} ms`)
    assert.deepEqual(push.payload, { event: 'messages-waiting', device })
    assert.deepEqual(push.headers, { urgency: 'high', topic: 'messages-waiting', ttl: String(node.config.messageLifetimeSeconds) })
    assert.equal(push.vapidKey, (await deviceInfo(wallet, node, PUSH_WEBPUSH)).vapid_public_key, 'signed with the key the browser subscribed with')
    for (const secret of [pairwise, wallet.did, first.id, 'wake up', node.did]) assert.ok(!push.text.includes(secret))
    assert.deepEqual(service.invalid, [])

    for (let i = 0; i < 10; i++) await sendTo(node, pairwise, `more ${i}`)
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal(pushesTo(service, sub).length, 1, 'ten more within the interval: no more pushes yet')
    // At the interval's end, one more: the ten still wait.
    await waitFor(() => pushesTo(service, sub).length === 2 ? true : undefined, 3000, 'the push at the end of the interval')
    assert.ok((pushesTo(service, sub)[1]?.at ?? 0) - push.at >= 1900)
    assert.equal((await wallet.pickup(node.url, node.did, { ack: true })).length, 11)

    // Collected meanwhile: the interval's end sends nothing.
    await sendTo(node, pairwise, 'after the interval')
    await waitFor(() => pushesTo(service, sub).length === 3 ? true : undefined, 3000, 'a push after the interval')
    await sendTo(node, pairwise, 'within it')
    assert.equal((await wallet.pickup(node.url, node.did, { ack: true })).length, 2)
    await new Promise(resolve => setTimeout(resolve, 2500))
    assert.equal(pushesTo(service, sub).length, 3, 'nothing waits any more: no push')
  })

  it('a wallet live on its WebSocket gets the message there and no push', async () => {
    const { wallet, pairwise, sub } = await webPushWallet(node, service)
    const socket = await FrameSocket.open(node.wsUrl)
    socket.send(await wallet.pack(wallet.message(`${PICKUP3}/live-delivery-change`, { live_delivery: true }, node.did, { return_route: 'all' }), node.did))
    await socket.frame(0)
    const sent = await sendTo(node, pairwise, 'live')
    const delivery = (await wallet.unpack((await socket.frame(1)).text)).message
    assert.equal(delivery.type, `${PICKUP3}/delivery`)
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.deepEqual(pushesTo(service, sub), [])
    await socket.close()
    // Offline again: the next one wakes it.
    await waitFor(async () => {
      await sendTo(node, pairwise, `after ${sent.id}`)
      return pushesTo(service, sub).length > 0 ? true : undefined
    }, 5000, 'a push once the socket closed')
  })

  it('a push service answering 410 for a subscription removes it; the message stays queued', async () => {
    const { wallet, pairwise, sub } = await webPushWallet(node, service)
    const gone = await startWebPushService()
    try {
      const stale = gone.subscribe()
      await setDevice(wallet, node, PUSH_WEBPUSH, { subscription: stale.subscription })
      gone.answer(410)
      const sent = await sendTo(node, pairwise, 'to a gone device')
      await waitFor(async () => deviceIds(await deviceInfo(wallet, node, PUSH_WEBPUSH)).length === 1 ? true : undefined, 5000, 'the gone subscription removed')
      assert.deepEqual((await deviceInfo(wallet, node, PUSH_WEBPUSH)).subscription, sub.subscription, 'the other device stays')
      assert.equal(gone.received.length, 1)
      assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id), [sent.id])
    } finally {
      await gone.close()
    }
  })

  it('FCM and APNs registrations reach the gateway with their token and platform, and nothing else', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    await setDevice(wallet, node, PUSH_FCM, { device_token: 'fcm-gw-token', device_platform: 'android' })
    await setDevice(wallet, node, PUSH_APNS, { device_token: 'b'.repeat(64) })
    const fcm = deviceIds(await deviceInfo(wallet, node, PUSH_FCM))[0]
    const apns = deviceIds(await deviceInfo(wallet, node, PUSH_APNS))[0]
    const before = gateway.received.length
    await sendTo(node, pairwise, 'for the phone')
    await waitFor(() => gateway.received.length >= before + 2 ? true : undefined, 2000, 'two gateway posts')
    const posts = gateway.received.slice(before).sort((a, b) => String(a.platform) < String(b.platform) ? -1 : 1)
    assert.deepEqual(posts, [
      { event: 'messages-waiting', device: apns, token: 'b'.repeat(64), platform: 'apns' },
      { event: 'messages-waiting', device: fcm, token: 'fcm-gw-token', platform: 'fcm', device_platform: 'android' }
    ])
  })

  it('a gateway that is down, or a push service that never answers, delays no forward and loses no message', async () => {
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    const stalled = await startWebPushService()
    try {
      await setDevice(wallet, node, PUSH_WEBPUSH, { subscription: stalled.subscribe().subscription })
      await setDevice(wallet, node, PUSH_FCM, { device_token: 'fcm-down', device_platform: 'android' })
      stalled.answer('hang')
      gateway.answer(503)
      const sent: string[] = []
      const started = Date.now()
      for (let i = 0; i < 5; i++) sent.push((await sendTo(node, pairwise, `through the outage ${i}`)).id)
      assert.ok(Date.now() - started < 2000, `five forwards took ${Date.now() - started} ms`)
      assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id).sort(), sent.sort())
    } finally {
      gateway.answer(200)
      await stalled.close()
    }
  })

  it('registrations end with the mediation', async () => {
    const { wallet } = await webPushWallet(node, service)
    await setDevice(wallet, node, PUSH_APNS, { device_token: 'c'.repeat(64) })
    const revoked = await fetch(`${node.url}/admin/clients/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken(await loadOrCreateNodeKeys(node.config.dataDir))}`, 'content-type': 'application/json' },
      body: JSON.stringify({ did: wallet.did })
    })
    assert.equal(revoked.status, 200)
    await wallet.mediate(node.url, node.did, CM3)
    for (const protocol of [PUSH_WEBPUSH, PUSH_APNS]) assert.deepEqual(deviceIds(await deviceInfo(wallet, node, protocol)), [], 'granted again, it starts with none')
  })

  it('metrics count pushes sent, folded, failed by reason, and registrations', async () => {
    const text = await (await fetch(`${node.url}/metrics`)).text()
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, c => `\\${c}`)} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
    // From the tests above: at least the wake-ups, the ten folded, the 410, the gateway posts.
    assert.ok(value('didcomm_mesh_pushes_total{service="webpush"}') >= 4, text)
    assert.ok(value('didcomm_mesh_pushes_total{service="fcm"}') >= 1)
    assert.ok(value('didcomm_mesh_pushes_total{service="apns"}') >= 1)
    assert.ok(value('didcomm_mesh_pushes_coalesced_total') >= 10)
    assert.ok(value('didcomm_mesh_push_failures_total{reason="gone"}') >= 1)
    assert.ok(value('didcomm_mesh_push_registrations_total{service="webpush",change="set"}') >= 5)
    assert.ok(value('didcomm_mesh_push_registrations_total{service="webpush",change="removed"}') >= 1)
    assert.ok(!/did:|127\.0\.0\.1:\d+\/push/.test(text), 'no DID or endpoint in a label')
  })

  it('no log line names a DID, an endpoint or a token', async () => {
    const { pairwise, sub } = await webPushWallet(node, service)
    await sendTo(node, pairwise, 'logged')
    await waitFor(() => pushesTo(service, sub).length > 0 ? true : undefined, 2000, 'the push')
    const logs = node.logs()
    assert.ok(logs.includes('"msg"'), 'the node logs')
    assert.ok(!logs.includes(pairwise))
    assert.ok(!logs.includes(sub.subscription.endpoint))
    assert.ok(!/fcm-[a-z-]*token|fcm-down|a{64}|b{64}|c{64}/.test(logs), 'no device token')
    assert.ok(!/did:peer:2\.[A-Za-z0-9]/.test(logs), 'no whole DID')
  })
})

describe('push notifications across restarts and the mesh', () => {
  const nodes = testNodes()
  let service: WebPushService
  before(async () => { service = await startWebPushService() })
  after(async () => {
    await nodes.stopAll()
    await service.close()
  })

  const flags = { pushHosts: ['127.0.0.1'], pushPrivateDestinations: true }

  it('a registration and the VAPID key survive a restart', async () => {
    let node = await nodes.start(flags)
    const { wallet, pairwise, sub } = await webPushWallet(node, service)
    const key = (await deviceInfo(wallet, node, PUSH_WEBPUSH)).vapid_public_key
    node = await node.restart()
    assert.equal((await deviceInfo(wallet, node, PUSH_WEBPUSH)).vapid_public_key, key)
    await sendTo(node, pairwise, 'after the restart')
    const [push] = await waitFor(() => pushesTo(service, sub).length > 0 ? pushesTo(service, sub) : undefined, 2000, 'a push after the restart')
    assert.equal(push?.vapidKey, key)
    assert.deepEqual(service.invalid, [])
  })

  it('a relay across two mesh nodes to an offline wallet wakes it through its home node', async () => {
    const home = await nodes.start(flags)
    const entry = await nodes.start({ ...flags, bootstrap: [home.info.multiaddrs[0]] })
    const { wallet, pairwise, sub } = await webPushWallet(home, service)
    const business = new TestAgent()
    await business.mediate(entry.url, entry.did)
    const msg = business.message(BASIC, { content: 'across the mesh' }, pairwise)
    assert.equal((await business.sendThrough(entry, msg, pairwise, home.did)).status, 202)
    await waitFor(() => pushesTo(service, sub).length > 0 ? true : undefined, 20_000, 'the push from the home node')
    assert.deepEqual((await wallet.pickup(home.url, home.did, { ack: true })).map(r => r.message.id), [msg.id])
  })

  it('a gateway that is not there at all: forwards are taken and picked up, the push counted as unreachable after its tries', async () => {
    const gone = await startPushGateway()
    await gone.close()
    const node = await nodes.start({ ...flags, pushGatewayUrl: gone.url, pushMaxAttempts: 2 })
    const { wallet, pairwise } = await TestAgent.mediatedWallet(node)
    await setDevice(wallet, node, PUSH_FCM, { device_token: 'nowhere', device_platform: 'android' })
    const sent = []
    for (let i = 0; i < 3; i++) sent.push((await sendTo(node, pairwise, `no gateway ${i}`)).id)
    assert.deepEqual((await wallet.pickup(node.url, node.did, { ack: true })).map(r => r.message.id).sort(), sent.sort())
    await waitFor(async () => /^didcomm_mesh_push_failures_total\{reason="unreachable"\} 1$/m.test(await (await fetch(`${node.url}/metrics`)).text()) ? true : undefined, 5000, 'the push given up')
    assert.equal(deviceIds(await deviceInfo(wallet, node, PUSH_FCM)).length, 1, 'an unreachable gateway removes nothing')
  })

  it('without a gateway, FCM and APNs are neither offered nor accepted', async () => {
    const node = await nodes.start(flags)
    const { wallet } = await TestAgent.mediatedWallet(node)
    const { reply } = await ask(wallet, node, DISCOVER, { queries: [{ 'feature-type': 'protocol', match: '*push-notifications*' }] })
    assert.deepEqual((reply?.body.disclosures as Array<{ id: string }>).map(d => d.id), [PUSH_WEBPUSH])
    const refused = await ask(wallet, node, `${PUSH_FCM}/set-device-info`, { device_token: 'token' })
    assert.equal(refused.reply?.body.code, 'e.p.msg.unsupported')
  })
})
