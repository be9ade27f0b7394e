/**
 * `npm run example`: three mediator nodes on 127.0.0.1, a business on node 1, a customer's wallet on
 * node 2, node 3 as an extra relay hop. The business invites, the customer accepts and goes offline,
 * the business sends three messages (one via node 3), the customer comes back, picks them up and
 * replies, and the business gets the reply live. Ends with what each node's data dir holds, and
 * fails (exit 1) if any node saw both pairwise DIDs of the relationship.
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

const DEADLINE_MS = 60_000

interface ExampleNode {
  name: string
  node: MeshNode
  dataDir: string
  did: string
  /** Messages that arrived from other nodes over libp2p, counted from the node's own debug log. */
  fromMesh: number
}

const temps: string[] = []
const nodes: ExampleNode[] = []
const connections: LiveConnection[] = []

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
  const config = loadConfig({ flags: { dataDir, host: '127.0.0.1', httpPort: 0, p2pPort: 0, p2pWsPort: 0, logLevel: 'debug', bootstrap } })
  const entry = { name, dataDir, fromMesh: 0 } as ExampleNode
  // The node logs each message it handles; the example counts the ones that came over the mesh.
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      const record = JSON.parse(line) as { msg?: string, transport?: string }
      if (record.msg === 'message' && record.transport === 'libp2p') entry.fromMesh++
    }
  })
  entry.node = createNode(config, { logger })
  await entry.node.start()
  entry.did = entry.node.info().did
  nodes.push(entry)
  return entry
}

const relayed = (n: ExampleNode): number => n.node.info().mesh.outbox.delivered

/** Runs `act`, then waits until each hop of `path` relayed one more message to the next and that node received it. */
async function hops (path: ExampleNode[], act: () => Promise<void>): Promise<void> {
  const sent = path.map(relayed)
  const arrived = path.map(n => n.fromMesh)
  await act()
  for (let i = 0; i < path.length - 1; i++) {
    const from = path[i] as ExampleNode
    const to = path[i + 1] as ExampleNode
    await until(() => relayed(from) > (sent[i] as number) && to.fromMesh > (arrived[i + 1] as number) ? true : undefined, `${from.name} relaying to ${to.name}`)
    say(from.name, `relayed a forward to ${to.name} over libp2p (it could read only the next hop: ${to.name})`)
  }
}

/** Every byte of every file under `dir`. */
async function bytesOf (dir: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) parts.push(await readFile(join(entry.parentPath, entry.name)))
  }
  return Buffer.concat(parts)
}

async function main (): Promise<boolean> {
  console.log('didcomm-mesh example: three mediator nodes, a business and a customer\n')
  const n1 = await startNode('node 1', [])
  say(n1.name, `started: ${short(n1.did)} at ${n1.node.info().endpoints.http}`)
  const seed = n1.node.info().multiaddrs.slice(0, 1)
  const n2 = await startNode('node 2', seed)
  say(n2.name, `started: ${short(n2.did)} at ${n2.node.info().endpoints.http}, joined the mesh through node 1`)
  const n3 = await startNode('node 3', seed)
  say(n3.name, `started: ${short(n3.did)} at ${n3.node.info().endpoints.http}, a relay hop`)
  await until(() => n1.node.info().peers.length >= 2 ? true : undefined, 'nodes 2 and 3 to connect')

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
  let contact = await customer.acceptInvitation(offer.url, { label: 'Alice' })
  await hops([n2, n1], async () => {
    say('customer', `accepts the invitation from "${contact.name}" with a new pairwise DID ${short(contact.myDid)}`)
  })
  const accepted = await until(() => live.find(m => m.contact !== undefined), 'the acceptance at the business')
  say('business', `new contact "${accepted.contact?.name ?? '?'}" (live), its pairwise DID ${short(contact.theirDid)} for this relationship`)

  say('customer', 'goes offline')
  const texts = ['Your statement for May is ready', 'A new device signed in to your account', 'Your card ships tomorrow']
  await hops([n1, n2], async () => {
    await business.send('Alice', texts[0] as string)
    say('business', `sends #1 "${texts[0] as string}"`)
  })
  await hops([n1, n3, n2], async () => {
    await business.send('Alice', texts[1] as string, { via: [n3.did] })
    say('business', `sends #2 "${texts[1] as string}" via node 3`)
  })
  await hops([n1, n2], async () => {
    await business.send('Alice', texts[2] as string)
    say('business', `sends #3 "${texts[2] as string}"`)
  })
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
  await hops([n2, n1], async () => {
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
