/**
 * Shared pieces of the mesh tests (their nodes come from testNodes in ../helpers/node.ts, with logs):
 * nodes behind NAT, bare libp2p DHT peers (probe, rogue), pickup with the unpack metadata, and a
 * privacy scanner for data dirs and logs.
 */
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import type { PrivateKey } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { DHT_PROTOCOL } from '../../node/libp2p.ts'
import { mediatorKey } from '../../node/mesh/routes.ts'
import type { Received, TestAgent } from '../helpers/client.ts'
import { waitFor } from '../helpers/node.ts'
import type { LoggedTestNode, TestNodes } from '../helpers/node.ts'

/**
 * Announced by a node "behind NAT": it dials out, but nothing can dial it back (nothing listens on
 * port 1). Such a node connects to another only when it asks for it, so a test can tell a lookup
 * made through the DHT from an existing connection.
 */
export const UNREACHABLE = '/ip4/127.0.0.1/tcp/1'

/**
 * Starts a node "behind NAT" (announcing UNREACHABLE) bootstrapped to `bootstrap`, and waits until
 * the DHT holds its provider record. Nothing can dial such a node, so it connects to a peer only in
 * its own DHT queries: once its start-up provide is done, while the mesh is just `bootstrap`, it
 * knows no other node and makes no query until it looks one up (or the DHT's 5-minute refresh).
 */
export async function startBehindNat (cluster: TestNodes<LoggedTestNode>, bootstrap: LoggedTestNode, probe: DhtPeer, flags: Record<string, unknown> = {}): Promise<LoggedTestNode> {
  const node = await cluster.start({ bootstrap: [bootstrap.info.multiaddrs[0]], announce: [UNREACHABLE], ...flags })
  await waitFor(async () => await providedNow(probe, node) ? true : undefined, 20_000, `the provider record of ${node.url}`)
  return node
}

/** True when `node` has a libp2p connection to `other` now. */
export function connected (node: LoggedTestNode, other: LoggedTestNode): boolean {
  return node.node.info().peers.includes(other.info.peerId)
}

/** Polls `check` and returns how long it took to hold, in ms. */
export async function timeUntil (check: () => boolean, timeout: number, what: string): Promise<number> {
  const start = performance.now()
  await waitFor(() => check() ? true : undefined, timeout, what)
  return performance.now() - start
}

/** Pickup 3.0 at `node` keeping the unpack metadata (authenticated, sender key), then acknowledged. */
export async function pickupAll (agent: TestAgent, node: LoggedTestNode): Promise<Received[]> {
  return await agent.pickup(node.url, node.did, { ack: true })
}

/** Polls pickup until the message with id `id` arrives (other messages are collected and dropped). */
export async function receive (agent: TestAgent, node: LoggedTestNode, id: string, timeout = 20_000): Promise<Received> {
  return await waitFor(async () => (await pickupAll(agent, node)).find(r => r.message.id === id), timeout, `message ${id} at ${node.url}`)
}

/** The texts and their base64/base64url encodings at every byte alignment (JWE headers are base64url). */
function encodings (text: string): string[] {
  const out = [text]
  for (let pad = 0; pad < 3; pad++) {
    const bytes = Buffer.concat([Buffer.alloc(pad, 0x20), Buffer.from(text, 'utf8')])
    out.push(bytes.toString('base64'), bytes.toString('base64url'))
  }
  return out
}

function windows (text: string, size: number, stride: number): string[] {
  const out: string[] = []
  for (let i = 0; i + size <= text.length; i += stride) out.push(text.slice(i, i + size))
  return out
}

const WINDOW = 16

/**
 * Short pieces that betray `secret` (a DID, a key id, a key), as text or base64(url) at any
 * alignment: whole-string matching would miss a DID inside a base64url JWE header, or one that
 * LevelDB's block compression split. Pieces also found in `unrelated` strings (the common
 * `did:peer:2.Ez6LS` prefix, a service naming the same mediator) are left out: they prove nothing.
 */
export function fingerprints (secret: string, unrelated: string[]): string[] {
  const common = new Set(unrelated.flatMap(encodings).flatMap(e => windows(e, WINDOW, 1)))
  return [...new Set(encodings(secret).flatMap(e => windows(e, WINDOW, 4)))].filter(w => !common.has(w))
}

/** Every file under `dir`, recursively. */
async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name))
}

/** Which of `secrets` (name → fingerprints) appear in `text`, with the first piece found. */
export function leaksIn (text: string, secrets: Record<string, string[]>): string[] {
  const found: string[] = []
  for (const [name, pieces] of Object.entries(secrets)) {
    const piece = pieces.find(p => text.includes(p))
    if (piece !== undefined) found.push(`${name} (${JSON.stringify(piece)})`)
  }
  return found
}

/** Scans every file of a data dir as bytes (latin1, so any byte sequence is searchable) for `secrets`. */
export async function leaksInDir (dir: string, secrets: Record<string, string[]>): Promise<string[]> {
  const found: string[] = []
  for (const file of await filesUnder(dir)) {
    for (const leak of leaksIn(await readFile(file, 'latin1'), secrets)) found.push(`${leak} in ${file}`)
  }
  return found
}

/**
 * Fingerprints of everything that identifies `did`: the DID (and so its key ids `did#key-n`) and its
 * public keys as JWK `x` values. `unrelated`: DIDs the scanned node may legitimately know.
 */
export function identifying (agent: TestAgent, did: string, unrelated: string[]): string[] {
  const keys = [...agent.secrets.values()].filter(s => s.id.startsWith(did + '#')).map(s => s.privateKeyJwk.x)
  return [did, ...keys].flatMap(s => fingerprints(s, unrelated))
}

export type DhtPeer = Libp2p<{ dht: KadDHT }>

/**
 * A bare libp2p peer on the mesh DHT (not a didcomm-mesh node): a probe that watches the DHT from
 * outside (client mode), or a rogue DHT server. Dialled to `bootstrap` before it is returned.
 */
export async function startDhtPeer (bootstrap: string, options: { clientMode?: boolean, privateKey?: PrivateKey } = {}): Promise<DhtPeer> {
  const peer = await createLibp2p({
    ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: options.clientMode ?? true, peerInfoMapper: passthroughMapper, initialQuerySelfInterval: 0 })
    }
  })
  await peer.dial(multiaddr(bootstrap))
  return peer
}

/**
 * True when the DHT names `node` as a provider of its mediator DID, with an address it listens on
 * now: the mesh has converged enough for a lookup of that DID to succeed at once.
 */
export async function providedNow (probe: DhtPeer, node: LoggedTestNode): Promise<boolean> {
  const listening = node.node.info().multiaddrs
  try {
    for await (const provider of probe.contentRouting.findProviders(await mediatorKey(node.did), { signal: AbortSignal.timeout(3_000) })) {
      if (provider.id.toString() === node.info.peerId && provider.multiaddrs.some(ma => listening.some(l => l.startsWith(ma.toString() + '/')))) return true
    }
  } catch {
    // not yet
  }
  return false
}

