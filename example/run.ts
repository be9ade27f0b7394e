/**
 * `npm run example`: six mediator nodes on 127.0.0.1, a business on node 1, a customer's wallet on
 * node 2, nodes 3 to 6 as mix nodes. The business invites, the customer accepts and goes offline,
 * the business sends three messages (two mix hops each, the second three), the customer comes back,
 * picks them up and replies, and the business gets the reply live. Every message's path is shown,
 * node by node, with what each node on it could see. Ends with who saw what: each node's data dir
 * for the pairwise DIDs, and for the nodes; fails (exit 1) if any node saw both pairwise DIDs, if
 * node 2 ever heard from node 1 or node 1 relayed to node 2, or if a mix saw both ends of a message.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { BASIC_MESSAGE, MeshAgent } from '../client/index.ts'
import type { LiveConnection, ReceivedMessage } from '../client/index.ts'
import { loadConfig } from '../config/load.ts'
import { createNode } from '../node/node.ts'
import type { MeshNode } from '../node/node.ts'

const DEADLINE_MS = 90_000
const MIX_NODES = 4

interface ExampleNode {
  name: string
  node: MeshNode
  dataDir: string
  did: string
  peerId: string
  /** From the node's own debug log: the peers that handed it a message over libp2p, and those it relayed to. */
  from: string[]
  to: string[]
}

const temps: string[] = []
const nodes: ExampleNode[] = []
const connections: LiveConnection[] = []
/** Nodes that heard from a message's sender's node and relayed to its recipient's, message by message. */
const bridges: string[] = []

async function temp (what: string): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), `didcomm-mesh-example-${what}-`))
  temps.push(path)
  return path
}

/** did:peer:2 DIDs share their prefix and end in the same service block: show the start of the first key. */
const short = (did: string): string => `${did.slice(0, 28)}…`
const say = (who: string, text: string): void => { console.log(`[${who}] ${text}`) }

async function until<T> (check: () => T | undefined | Promise<T | undefined>, what: string, timeout = 20_000): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function startNode (name: string, bootstrap: string[]): Promise<ExampleNode> {
  const dataDir = await temp(name.replace(' ', ''))
  // All the example's nodes are on 127.0.0.1: each lists them all as mixes, not just two of that address.
  const config = loadConfig({ flags: { dataDir, host: '127.0.0.1', httpPort: 0, p2pPort: 0, p2pWsPort: 0, logLevel: 'debug', bootstrap, mixPeersPerHost: 2 + MIX_NODES } })
  const entry = { name, dataDir, from: [], to: [] } as unknown as ExampleNode
  // The node logs each message it handles (with the peer that handed it over) and each relay (with the peer it went to).
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      const record = JSON.parse(line) as { msg?: string, transport?: string, peer?: string, to?: string, outcome?: string }
      if (record.msg === 'message' && record.transport === 'libp2p' && record.peer !== undefined) entry.from.push(record.peer)
      if (record.msg === 'relayed' && record.outcome === 'accepted' && record.to !== undefined) entry.to.push(record.to)
    }
  })
  entry.node = createNode(config, { logger })
  await entry.node.start()
  entry.did = entry.node.info().did
  entry.peerId = entry.node.info().peerId
  nodes.push(entry)
  return entry
}

const nameOf = (peer: string): string => nodes.find(n => n.peerId === peer)?.name ?? peer

/**
 * Runs `act` (which sends one message from `origin`'s client to `destination`'s), waits until it
 * arrived at `destination`, then follows it from node to node by what each relayed, and shows what
 * each node on the path could see: the hop before it and the hop after it, nothing more.
 */
async function traced<T> (origin: ExampleNode, destination: ExampleNode, act: () => Promise<T>): Promise<T> {
  const marks = nodes.map(n => ({ from: n.from.length, to: n.to.length }))
  const news = (n: ExampleNode): { from: string[], to: string[] } => {
    const mark = marks[nodes.indexOf(n)] as { from: number, to: number }
    return { from: n.from.slice(mark.from), to: n.to.slice(mark.to) }
  }
  const result = await act()
  await until(() => news(destination).from.length > 0 ? true : undefined, `the message at ${destination.name}`)
  const path = [origin]
  for (let at = origin; at !== destination && path.length <= nodes.length;) {
    // A hop logs its relay once the next one acknowledged it, which may be just after it arrived.
    const from = at
    const next = await until(() => nodes.find(n => n.peerId === news(from).to[0]), `${from.name}'s relay`)
    path.push(next)
    at = next
  }
  say('path', path.map(n => n.name).join(' → '))
  for (const [i, n] of path.entries()) {
    const before = i === 0 ? 'its client' : (path[i - 1] as ExampleNode).name
    const after = i === path.length - 1 ? 'its client\'s mailbox' : (path[i + 1] as ExampleNode).name
    say(n.name, `saw ${before} → ${after}`)
  }
  for (const n of nodes) {
    const { from, to } = news(n)
    if (n !== origin && n !== destination && from.includes(origin.peerId) && to.includes(destination.peerId)) bridges.push(`${n.name} (${origin.name} → ${destination.name})`)
  }
  return result
}

/** Every byte of every file under `dir`. */
async function bytesOf (dir: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) parts.push(await readFile(join(entry.parentPath, entry.name)))
  }
  return Buffer.concat(parts)
}

/** The mix nodes `node` lists to its clients (GET /mesh/mixes). */
async function mixCount (node: ExampleNode): Promise<number> {
  const res = await fetch(`${node.node.listenUrl()}/mesh/mixes`)
  return ((await res.json()) as { mixes: unknown[] }).mixes.length
}

async function main (): Promise<boolean> {
  console.log(`didcomm-mesh example: ${2 + MIX_NODES} mediator nodes, a business and a customer\n`)
  // Each node joins through all the earlier ones, so every node knows every mix.
  const seeds = (): string[] => nodes.map(n => n.node.info().multiaddrs[0] as string)
  const n1 = await startNode('node 1', seeds())
  say(n1.name, `started: ${short(n1.did)} at ${n1.node.info().endpoints.http}, the business's node`)
  const n2 = await startNode('node 2', seeds())
  say(n2.name, `started: ${short(n2.did)} at ${n2.node.info().endpoints.http}, the customer's home node`)
  for (let i = 0; i < MIX_NODES; i++) {
    const mix = await startNode(`node ${i + 3}`, seeds())
    say(mix.name, `started: ${short(mix.did)}, a mix node`)
  }
  for (const home of [n1, n2]) {
    await until(async () => await mixCount(home) >= MIX_NODES + 1 ? true : undefined, `${home.name} to learn the mix nodes`)
    say(home.name, `knows ${await mixCount(home)} mix nodes (GET /mesh/mixes): its peers told it their DIDs`)
  }

  const business = await MeshAgent.open(await temp('business'))
  const home1 = await business.connect(n1.node.invitation().url)
  say('business', `mediation at node 1 (coordinate-mediation ${home1.mediation}, pickup ${home1.pickup})`)
  const customer = await MeshAgent.open(await temp('customer'))
  const home2 = await customer.connect(n2.node.invitation().url)
  say('customer', `wallet mediated by node 2 (coordinate-mediation ${home2.mediation}, pickup ${home2.pickup})`)

  // The business listens live from the start: the acceptance and, later, the reply arrive on its WebSocket.
  const live: ReceivedMessage[] = []
  connections.push(await business.listen(m => { live.push(m) }))
  say('business', 'listening live on node 1\'s WebSocket')

  const offer = await business.createInvitation({ label: 'Acme Bank' })
  say('business', `invites: ${offer.url.slice(0, 60)}…`)
  let contact = await traced(n2, n1, async () => {
    const accepted = await customer.acceptInvitation(offer.url, { label: 'Alice' })
    say('customer', `accepts the invitation from "${accepted.name}" with a new pairwise DID ${short(accepted.myDid)}, through two mix nodes`)
    return accepted
  })
  const accepted = await until(() => live.find(m => m.contact !== undefined), 'the acceptance at the business')
  say('business', `new contact "${accepted.contact?.name ?? '?'}" (live), its pairwise DID ${short(contact.theirDid)} for this relationship`)

  say('customer', 'goes offline')
  const texts = ['Your statement for May is ready', 'A new device signed in to your account', 'Your card ships tomorrow']
  for (const [i, text] of texts.entries()) {
    // The second message takes three mix hops, the others the default two; the mixes are drawn per message.
    const mixHops = i === 1 ? 3 : 2
    await traced(n1, n2, async () => {
      await business.send('Alice', text, { mixHops })
      say('business', `sends #${i + 1} "${text}" through ${mixHops} mix nodes`)
    })
  }
  say(n2.name, 'keeps the three messages queued for the customer\'s pairwise DID')

  say('customer', 'comes back online and picks up')
  const got: ReceivedMessage[] = []
  await until(async () => {
    got.push(...(await customer.pickup()).filter(m => m.type === BASIC_MESSAGE))
    return got.length >= 3 ? true : undefined
  }, 'the customer\'s three messages')
  for (const [i, m] of got.entries()) say('customer', `received #${i + 1} from "${m.contact?.name ?? '?'}": "${String(m.body.content)}"`)
  const inOrder = got.map(m => m.body.content).join('\n') === texts.join('\n')

  contact = customer.contact('Acme Bank')
  const reply = 'Thanks! Please ship the card to my office.'
  await traced(n2, n1, async () => {
    await customer.send(contact.name, reply)
    say('customer', `replies "${reply}"`)
  })
  const answer = await until(() => live.find(m => m.type === BASIC_MESSAGE), 'the reply at the business')
  say('business', `received live from "${answer.contact?.name ?? '?'}": "${String(answer.body.content)}"`)

  for (const c of connections.splice(0)) await c.close()
  for (const n of nodes) await n.node.stop()

  // Who saw what: the raw bytes each node keeps on disk.
  const customerDid = contact.myDid
  const businessDid = contact.theirDid
  console.log('\nwho saw what (bytes of each node\'s data dir):')
  console.log(`  customer's pairwise DID  ${short(customerDid)}`)
  console.log(`  business's pairwise DID  ${short(businessDid)}`)
  let ok = inOrder
  for (const n of nodes) {
    const bytes = await bytesOf(n.dataDir)
    const sawCustomer = bytes.includes(customerDid)
    const sawBusiness = bytes.includes(businessDid)
    const seen = [sawCustomer ? 'customer\'s pairwise DID' : '', sawBusiness ? 'business\'s pairwise DID' : ''].filter(s => s !== '')
    console.log(`  ${n.name}: ${seen.length === 0 ? 'neither' : seen.join(' and ')}`)
    if (sawCustomer && sawBusiness) ok = false
  }
  // Who saw which nodes: the business's and the customer's nodes never met, and no mix saw both ends.
  console.log('\nwho saw which node (each node\'s own log of the peers it heard from and relayed to):')
  for (const n of nodes) {
    const heard = [...new Set(n.from.map(nameOf))].sort().join(', ') || 'none'
    const sent = [...new Set(n.to.map(nameOf))].sort().join(', ') || 'none'
    console.log(`  ${n.name}: heard from ${heard}; relayed to ${sent}`)
  }
  const met = n2.from.includes(n1.peerId) || n1.to.includes(n2.peerId) || n1.from.includes(n2.peerId) || n2.to.includes(n1.peerId)
  if (met) console.log('  FAIL: node 1 and node 2 exchanged a message directly')
  for (const bridge of bridges) console.log(`  FAIL: ${bridge} saw both ends of a message`)
  ok &&= !met && bridges.length === 0
  if (!met && bridges.length === 0) console.log('  OK: node 1 and node 2 never exchanged a message, and no mix saw both ends of one.')
  // The scan must find each DID at its own node, or it proves nothing.
  const sawOwn = (await bytesOf(n1.dataDir)).includes(businessDid) && (await bytesOf(n2.dataDir)).includes(customerDid)
  if (!sawOwn) console.log('  FAIL: a home node does not hold its client\'s pairwise DID; the scan is not working')
  if (!inOrder) console.log('  FAIL: the customer did not receive the three messages in order')
  ok &&= sawOwn
  console.log(ok ? 'OK: no node saw both pairwise DIDs of the relationship.' : 'FAIL: a node saw both pairwise DIDs of the relationship.')
  return ok
}

async function cleanup (): Promise<void> {
  for (const c of connections.splice(0)) await c.close().catch(() => {})
  for (const n of nodes.splice(0)) await n.node.stop().catch(() => {})
  for (const path of temps.splice(0)) await rm(path, { recursive: true, force: true })
}

const watchdog = setTimeout(() => {
  console.error(`example: did not finish within ${DEADLINE_MS / 1000} s`)
  process.exit(1)
}, DEADLINE_MS)
watchdog.unref()

let code = 1
try {
  code = await main() ? 0 : 1
} catch (err) {
  console.error(`example failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
} finally {
  await cleanup()
}
process.exit(code)
