/**
 * A 10-node mesh in this process. A business posts to its node, which finds the wallet's home node
 * (through the DHT the first time: route_cold_ms), relays, and the home node pushes the message live to
 * the wallet's WebSocket (e2e_*). e2e_mix0_*: the same path packed by the client library (padded,
 * filled layers), as a MeshAgent sends with no mix hops; e2e_mix2_*: through two mix nodes, also
 * packed by the client library; e2e_mix2_nodelay_*: through two mixes that hold nothing
 * (`--mix-delay-ms 0`), which tells the path's own cost from the deliberate delay.
 * relay_*: one acknowledged node-to-node hop on a warm connection, from a bare mesh peer to the home
 * node (acknowledged after the home node's durable write). The four kinds and a relay alternate
 * message by message.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { MeshLibp2p } from '../../node/libp2p.ts'
import { createRelay } from '../../node/mesh/relay.ts'
import { MIX_LIST, MIX_QUERY, mixListBody, randomSample } from '../../protocols/mix-directory/messages.ts'
import { ThirdPartyAgent } from '../lib/agent.ts'
import type { Figures } from '../lib/figures.ts'
import { postAccepted, sendAll } from '../lib/load.ts'
import { packForwards } from '../lib/pack.ts'
import { KIB } from '../lib/settings.ts'
import type { Settings } from '../lib/settings.ts'
import { perSecond, percentile, round, sleep } from '../lib/stats.ts'
import { memberOf, startBarePeer, startMesh, waitForRoute } from '../lib/in-process-mesh.ts'
import type { Mesh } from '../lib/in-process-mesh.ts'
import type { InProcessNode } from '../lib/in-process-node.ts'
import { waitFor } from '../lib/wait.ts'
import { DELIVERY, WalletSocket } from '../lib/wallet-socket.ts'

/** Before each timed message: the one before it has been acknowledged along its whole path (a few ms, 10 with mix delays). */
const QUIET_MS = 20

/** Nodes that mix without holding anything (the others keep the default --mix-delay-ms). */
const UNDELAYED_MIXES = [2, 3]

/** Milliseconds from a POST to the business's node until the wallet has the push. */
async function e2eOnce (sender: InProcessNode, socket: WalletSocket, forward: string): Promise<number> {
  const start = performance.now()
  await postAccepted(sender.url, forward)
  const pushed = await socket.next(DELIVERY)
  const ms = performance.now() - start
  await socket.acknowledge(pushed)
  return ms
}

/** e2eOnce for each of `forwards`, one at a time. */
async function sequentialE2e (sender: InProcessNode, socket: WalletSocket, forwards: readonly string[]): Promise<number[]> {
  const latencies: number[] = []
  for (const forward of forwards) latencies.push(await e2eOnce(sender, socket, forward))
  return latencies
}

/** The mediator DIDs `business`'s node lists as mixes (the DIDComm query a MeshAgent makes), none of them `home`'s. */
async function mixesFor (business: ThirdPartyAgent, sender: InProcessNode, home: InProcessNode): Promise<string[]> {
  const reply = await business.request(sender.url, sender.did, MIX_QUERY, {})
  if (reply.type !== MIX_LIST) throw new Error(`mix query answered ${reply.type}`)
  return mixListBody.parse(reply.body).mixes.filter(did => !home.info.dids.includes(did))
}

/**
 * Two mixes with the default delay drawn at random from the sender's directory, as a MeshAgent draws
 * them (never its own node nor the recipient's mediator), and the two undelayed ones, once both are
 * listed there too. Once for the whole run: a fresh pair per message would time first contacts
 * between mixes (route lookups, dials), which route_cold_ms stands for.
 */
async function drawMixes (business: ThirdPartyAgent, mesh: Mesh, sender: InProcessNode, home: InProcessNode): Promise<{ delayed: string[], undelayed: string[] }> {
  const undelayed = UNDELAYED_MIXES.map(i => (mesh.nodes[i] as InProcessNode).did)
  const delayed = await waitFor(async () => {
    const listed = await mixesFor(business, sender, home)
    const others = listed.filter(did => !undelayed.includes(did))
    return others.length >= 2 && undelayed.every(did => listed.includes(did)) ? others : undefined
  }, 20_000, "the mixes in the business's node's directory")
  return { delayed: randomSample(delayed, 2), undelayed }
}

/** Fails unless each of `mixes` relayed at least `count` messages: the mixed messages did take the mixes. */
async function checkRelayedBy (mesh: Mesh, mixes: readonly string[], count: number): Promise<void> {
  for (const did of mixes) {
    const mix = mesh.nodes.find(node => node.info.dids.includes(did))
    if (mix === undefined) throw new Error(`the mix ${did} is no node of the mesh`)
    // A mix counts a relay once the next hop acknowledged it, which may come after the wallet's push.
    await waitFor(() => mix.node.info().mesh.outbox.delivered >= count ? true : undefined, 10_000, `the mix at ${mix.url} to relay every mixed message`)
  }
}

/** Receives and acknowledges pushes until `count` messages have arrived. */
async function receivePushes (socket: WalletSocket, count: number): Promise<void> {
  for (let received = 0; received < count;) received += (await socket.acknowledge(await socket.next(DELIVERY))).length
}

/** Messages a second from business to live wallet with `senders` POSTs in flight. */
async function concurrentE2e (sender: InProcessNode, socket: WalletSocket, forwards: readonly string[], senders: number): Promise<number> {
  const start = performance.now()
  const received = receivePushes(socket, forwards.length)
  await Promise.all([sendAll(sender.url, forwards, senders), received])
  return perSecond(forwards.length, performance.now() - start)
}

/** Times acknowledged libp2p relays of one message from `peer` to `home` (milliseconds each). */
async function relayTimer (peer: MeshLibp2p, home: InProcessNode): Promise<(packed: string) => Promise<number>> {
  const relay = createRelay(peer)
  const route = { kind: 'libp2p' as const, peerId: peerIdFromString(home.info.peerId) }
  await peer.dial(multiaddr(home.info.multiaddrs[0] as string))
  return async packed => {
    const start = performance.now()
    const result = await relay.send(route, packed)
    if (result.outcome !== 'accepted') throw new Error(`relay not accepted: ${JSON.stringify(result)}`)
    return performance.now() - start
  }
}

async function measure (mesh: Mesh, peer: MeshLibp2p, settings: Settings): Promise<Figures> {
  const sender = mesh.nodes[1] as InProcessNode
  const home = mesh.nodes[mesh.nodes.length - 1] as InProcessNode
  const { wallet, pairwise } = await ThirdPartyAgent.mediatedWallet(home)
  const business = new ThirdPartyAgent()
  await business.mediate(sender.url, sender.did)
  const viaSender = await packForwards(business, { to: pairwise, bodyBytes: KIB, via: { next: home.did, mediator: sender.did } }, 1 + settings.e2eRuns + settings.e2eMessages)
  const mixes = await drawMixes(business, mesh, sender, home)
  const mix = { node: sender.did, mixes: mixes.delayed, mediator: home.did }
  const mixed = await packForwards(business, { to: pairwise, bodyBytes: KIB, mix }, 1 + settings.e2eRuns)
  const undelayedMix = { ...mix, mixes: mixes.undelayed }
  const mixedUndelayed = await packForwards(business, { to: pairwise, bodyBytes: KIB, mix: undelayedMix }, 1 + settings.e2eRuns)
  const unmixed = await packForwards(business, { to: pairwise, bodyBytes: KIB, mix: { ...mix, mixes: [] } }, settings.e2eRuns)
  // For a wallet of the home node that is not live: a relay is stored, and pushes nothing to the socket the e2e kinds are read from.
  const offline = await ThirdPartyAgent.mediatedWallet(home)
  const direct = await packForwards(business, { to: offline.pairwise, bodyBytes: KIB }, 1 + settings.e2eRuns)
  const socket = await WalletSocket.open(wallet, home)
  try {
    await socket.goLive()
    await waitForRoute(peer, memberOf(mesh.nodes[0] as InProcessNode), memberOf(home))
    const [cold] = await sequentialE2e(sender, socket, viaSender.slice(0, 1))
    // Each mixed path's first message: each hop finds the next (untimed, as the cold one is for the direct path).
    await sequentialE2e(sender, socket, [mixed[0] as string, mixedUndelayed[0] as string])
    const relay = await relayTimer(peer, home)
    await relay(direct[0] as string)
    // The four kinds and a single relay in turn, so that the machine's noise falls on all alike (a
    // mix path's cost is told in relays), each started on a quiet mesh: not while the acknowledgements
    // of the one before still travel back along its path.
    const kinds = [viaSender.slice(1, 1 + settings.e2eRuns), unmixed, mixed.slice(1), mixedUndelayed.slice(1)]
    const latencies: number[][] = [[], [], [], []]
    const hops: number[] = []
    for (let i = 0; i < settings.e2eRuns; i++) {
      for (const [k, forwards] of kinds.entries()) {
        await sleep(QUIET_MS)
        latencies[k]?.push(await e2eOnce(sender, socket, forwards[i] as string))
      }
      await sleep(QUIET_MS)
      hops.push(await relay(direct[1 + i] as string))
    }
    const [e2e, e2eMix0, e2eMix2, e2eMix2Undelayed] = latencies as [number[], number[], number[], number[]]
    await checkRelayedBy(mesh, [...mix.mixes, ...undelayedMix.mixes], mixed.length)
    const e2eRate = await concurrentE2e(sender, socket, viaSender.slice(1 + settings.e2eRuns), settings.e2eSenders)
    const relayP50 = percentile(hops, 0.5)
    const e2eMix0P50 = percentile(e2eMix0, 0.5)
    const e2eMix2UndelayedP50 = percentile(e2eMix2Undelayed, 0.5)
    return {
      route_cold_ms: round(cold ?? NaN),
      relay_p50_ms: relayP50,
      relay_p99_ms: percentile(hops, 0.99),
      e2e_per_s: e2eRate,
      e2e_p50_ms: percentile(e2e, 0.5),
      e2e_p99_ms: percentile(e2e, 0.99),
      e2e_mix0_p50_ms: e2eMix0P50,
      e2e_mix0_p99_ms: percentile(e2eMix0, 0.99),
      e2e_mix2_p50_ms: percentile(e2eMix2, 0.5),
      e2e_mix2_p99_ms: percentile(e2eMix2, 0.99),
      e2e_mix2_nodelay_p50_ms: e2eMix2UndelayedP50,
      e2e_mix2_nodelay_p99_ms: percentile(e2eMix2Undelayed, 0.99),
      mix2_over_relay_p50: round((e2eMix2UndelayedP50 - e2eMix0P50) / relayP50, 2)
    }
  } finally {
    await socket.close()
  }
}

export async function meshScenario (settings: Settings): Promise<Figures> {
  // Every node is on 127.0.0.1, of which a directory would list only --mix-peers-per-host (2).
  const mesh = await startMesh(settings.meshNodes, index => ({ mixPeersPerHost: settings.meshNodes, ...(UNDELAYED_MIXES.includes(index) ? { mixDelayMs: 0 } : {}) }))
  try {
    const peer = await startBarePeer()
    try {
      return await measure(mesh, peer, settings)
    } finally {
      await peer.stop()
    }
  } finally {
    await mesh.stop()
  }
}
