/**
 * The crash test: two nodes as child processes (A, the business's node, relays to B, the wallet's
 * home node), senders posting forwards to both and recording every acknowledgement (202), a wallet
 * picking up from B and acknowledging, while the nodes are killed with SIGKILL at random moments and
 * restarted from their data dirs. Then it drains everything and checks: every acknowledged forward
 * was delivered, nothing acknowledged by the wallet was delivered again; duplicates are counted.
 * It ends with SIGTERM under load: the node must drain and exit 0, losing nothing it acknowledged.
 * The nodes keep their data in LevelDB in their data dirs, or each in its own database on a
 * throwaway PostgreSQL server (`store: 'postgres'`). To look into a failure: CRASH_LOG_LEVEL=debug sets
 * the nodes' log level, and CRASH_LOG_FILE=path keeps the relay node's whole log when its outbox
 * does not drain.
 */
import { writeFile } from 'node:fs/promises'
import { BASIC, PICKUP3, TestAgent, wrapForward } from '../helpers/client.ts'
import { exitOf, field, launch } from '../helpers/cli.ts'
import type { Running } from '../helpers/cli.ts'
import { tempDir, waitFor } from '../helpers/node.ts'
import { startTestPostgres } from '../helpers/postgres.ts'
import { freePort } from '../../bench/lib/ports.ts'

export const CRASH_STORES = ['level', 'postgres'] as const
export type CrashStore = typeof CRASH_STORES[number]

export interface CrashOptions {
  /** SIGKILL + restart cycles. */
  cycles: number
  /** Forwards sent in all (half through A and the mesh, half straight to B). */
  messages: number
  /** Concurrent senders. */
  senders: number
  /** Random pause between kills, ms. */
  killEveryMs: [number, number]
  /** Where the nodes keep their data (LevelDB by default). */
  store?: CrashStore
  log?: (line: string) => void
}

export interface CrashReport {
  store: CrashStore
  cycles: number
  kills: { relayNode: number, homeNode: number }
  sent: number
  /** Forwards a node answered 202 (durable, by its promise). */
  acknowledged: number
  /** Distinct acknowledged forwards the wallet received. */
  delivered: number
  /** Acknowledged forwards never delivered: must be 0. */
  lost: number
  /** Deliveries of a message the wallet had already received. */
  duplicates: number
  /** Deliveries of a message after the node confirmed its messages-received: must be 0. */
  deliveredAfterRemoval: number
  /** POSTs that failed (connection refused or reset while a node was down) and were sent again. */
  resent: number
  sigterm: { exitCode: number | null, stopMs: number, acknowledgedDuringStop: number }
  seconds: number
}

const STATUS_TOKEN = 'crash-test-status-token'
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const between = ([low, high]: [number, number]): number => low + Math.random() * (high - low)

/** A node process on fixed ports and a fixed data dir, so it keeps its DID across restarts. */
class NodeProcess {
  private running: Running | undefined
  private readonly dataDir: string
  private readonly ports: { http: number, p2p: number, ws: number }
  /** The node's environment: DIDCOMM_MESH_STORE, when its store is PostgreSQL. */
  private readonly env: Record<string, string>
  readonly url: string
  did = ''
  peerId = ''

  constructor (dataDir: string, ports: { http: number, p2p: number, ws: number }, env: Record<string, string>) {
    this.dataDir = dataDir
    this.ports = ports
    this.env = env
    this.url = `http://127.0.0.1:${ports.http}/`
  }

  get multiaddr (): string {
    return `/ip4/127.0.0.1/tcp/${this.ports.p2p}/p2p/${this.peerId}`
  }

  /**
   * Starts the node on its ports. Another test's free-port probe may hold one of them for a moment
   * just after a kill: a start that fails on a port in use is tried again.
   */
  async start (extra: string[] = [], tries = 5): Promise<void> {
    const running = launch(['start', '--status-token', STATUS_TOKEN, '--data-dir', this.dataDir, '--http-port', String(this.ports.http), '--p2p-port', String(this.ports.p2p),
      '--p2p-ws-port', String(this.ports.ws), '--log-level', process.env.CRASH_LOG_LEVEL ?? 'warn', '--rate-limit', '0', ...extra], this.env)
    this.running = running
    try {
      await waitFor(() => {
        if (running.child.exitCode !== null || running.child.signalCode !== null) throw new Error(`node exited at start: ${running.stderr()}`)
        return field(running.stdout(), 'invitation')
      }, 30_000, 'the node banner')
    } catch (err) {
      if (tries <= 1 || !/EADDRINUSE/.test(running.stderr())) throw err
      await sleep(200)
      await this.start(extra, tries - 1)
      return
    }
    this.did = field(running.stdout(), 'mediator DID') ?? ''
    this.peerId = field(running.stdout(), 'peer ID') ?? ''
  }

  async kill (signal: NodeJS.Signals, timeout = 20_000): Promise<number | null> {
    const child = this.running?.child
    if (child === undefined) return null
    child.kill(signal)
    return await exitOf(child, timeout)
  }

  stderr (): string {
    return this.running?.stderr() ?? ''
  }

  /** What it logged (pino writes to stdout; at warn level, the warnings and errors). */
  log (): string {
    return this.running?.stdout() ?? ''
  }

  async outboxDepth (): Promise<number> {
    return (await this.info()).mesh.outbox.depth
  }

  /** The operator's /status page as text: each next hop's failed rounds and what it is doing. */
  async statusText (): Promise<string> {
    const page = await (await fetch(new URL('status', this.url), { headers: { authorization: `Bearer ${STATUS_TOKEN}` } })).text()
    return page.replace(/<(style|svg)[\s\S]*?<\/\1>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()
  }

  async info (): Promise<{ mesh: { outbox: { depth: number } } }> {
    return await (await fetch(new URL('info', this.url))).json() as { mesh: { outbox: { depth: number } } }
  }
}

interface Forward {
  content: string
  packed: string
  node: NodeProcess
  /** When its last POST ended (undefined while one is in flight): a POST still on its way may store it again. */
  lastPostEndedAt?: number
}

/**
 * The wallet side: pickup over HTTP, recording what arrived and when the node confirmed (after its
 * synced delete) that a message is removed. A message delivered again after that is a duplicate when
 * something may have sent it again since (a sender's POST still under way or made later, the relay
 * node re-relaying after a crash), and a broken promise otherwise.
 */
class Picker {
  readonly seen = new Map<string, number>()
  private readonly removedAt = new Map<string, number>()
  deliveredAfterRemoval = 0
  private readonly wallet: TestAgent
  private readonly home: NodeProcess
  private readonly sentAgainAfter: (content: string, time: number) => boolean

  constructor (wallet: TestAgent, home: NodeProcess, sentAgainAfter: (content: string, time: number) => boolean) {
    this.wallet = wallet
    this.home = home
    this.sentAgainAfter = sentAgainAfter
  }

  /** One delivery-request + messages-received round; failures (the node is down) are ignored. */
  async round (): Promise<number> {
    try {
      const reply = await this.wallet.request(this.home.url, this.home.did, `${PICKUP3}/delivery-request`, { limit: 100 })
      const attachments = reply.type.endsWith('/delivery') ? reply.attachments ?? [] : []
      const contents: string[] = []
      for (const attachment of attachments) {
        const message = (await this.wallet.unpack(Buffer.from(attachment.data.base64 ?? '', 'base64').toString('utf8'))).message
        const content = String(message.body.content)
        const removedAt = this.removedAt.get(content)
        if (removedAt !== undefined && !this.sentAgainAfter(content, removedAt)) this.deliveredAfterRemoval++
        this.seen.set(content, (this.seen.get(content) ?? 0) + 1)
        contents.push(content)
      }
      if (attachments.length === 0) return 0
      await this.wallet.request(this.home.url, this.home.did, `${PICKUP3}/messages-received`, { message_id_list: attachments.map(a => a.id) })
      const now = performance.now()
      for (const content of contents) this.removedAt.set(content, now)
      return attachments.length
    } catch {
      return 0
    }
  }
}

export async function runCrashTest (options: CrashOptions): Promise<CrashReport> {
  const log = options.log ?? (() => {})
  const started = performance.now()
  const store = options.store ?? 'level'
  const dirs = [await tempDir('didcomm-mesh-crash-'), await tempDir('didcomm-mesh-crash-')]
  const postgres = store === 'postgres' ? await startTestPostgres() : undefined
  // Two mediators, so two databases: a database holds one mediator (its replicas share it).
  const storeEnv = async (): Promise<Record<string, string>> => postgres === undefined ? {} : { DIDCOMM_MESH_STORE: await postgres.createDatabase() }
  const ports = async (): Promise<{ http: number, p2p: number, ws: number }> => ({ http: await freePort(), p2p: await freePort(), ws: await freePort() })
  const home = new NodeProcess(dirs[0]?.path as string, await ports(), await storeEnv())
  const relay = new NodeProcess(dirs[1]?.path as string, await ports(), await storeEnv())
  const nodes = [relay, home]
  // Set when the run ends, failed or not: the senders and the picker stop, so nothing keeps the process alive.
  let ended = false
  try {
    await home.start()
    await relay.start(['--bootstrap', home.multiaddr])
    const { wallet, pairwise } = await TestAgent.mediatedWallet(home)
    const business = new TestAgent()
    await business.mediate(relay.url, relay.did)

    log(`packing ${options.messages} forwards`)
    const forwards: Forward[] = []
    for (let i = 0; i < options.messages; i++) {
      const content = `crash-${i}`
      const packed = await business.pack(business.message(BASIC, { content }, pairwise), pairwise, business.did, { forward: true })
      const viaRelay = i % 2 === 0
      forwards.push({ content, node: viaRelay ? relay : home, packed: viaRelay ? await wrapForward(business, packed, home.did, relay.did, business.did) : packed })
    }

    const acknowledged = new Set<string>()
    let resent = 0
    const queue = [...forwards]
    const send = async (forward: Forward): Promise<boolean> => {
      forward.lastPostEndedAt = undefined
      try {
        const res = await fetch(forward.node.url, { method: 'POST', headers: { 'content-type': 'application/didcomm-encrypted+json' }, body: forward.packed, signal: AbortSignal.timeout(15_000) })
        await res.text()
        if (res.status === 202) acknowledged.add(forward.content)
        return res.status === 202
      } catch {
        return false
      } finally {
        forward.lastPostEndedAt = performance.now()
      }
    }
    // Paced so that sending lasts about as long as the kill schedule: kills land during ingest and relay.
    const paceMs = options.cycles * (options.killEveryMs[0] + options.killEveryMs[1]) / 2 * options.senders / options.messages
    /** Senders retry a forward until a node acknowledges it, as a real sender would (until the run ends, should it fail). */
    const sender = async (): Promise<void> => {
      for (let forward = queue.shift(); forward !== undefined && !ended; forward = queue.shift()) {
        await sleep(paceMs)
        if (await send(forward)) continue
        resent++
        queue.push(forward)
        await sleep(50)
      }
    }

    const byContent = new Map(forwards.map(forward => [forward.content, forward]))
    // The relay node may re-relay after a crash between the home node's acknowledgement and its own outbox delete.
    const sentAgainAfter = (content: string, time: number): boolean => {
      const forward = byContent.get(content)
      return forward === undefined || forward.node === relay || (forward.lastPostEndedAt ?? Infinity) > time
    }
    const picker = new Picker(wallet, home, sentAgainAfter)
    let picking = true
    const pickerLoop = (async () => {
      while (picking && !ended) if (await picker.round() === 0) await sleep(100)
    })()

    const kills = { relayNode: 0, homeNode: 0 }
    const sending = Promise.all(Array.from({ length: options.senders }, sender))
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      await sleep(between(options.killEveryMs))
      const victim = Math.random() < 0.5 ? relay : home
      if (victim === relay) kills.relayNode++
      else kills.homeNode++
      await victim.kill('SIGKILL')
      log(`cycle ${cycle + 1}/${options.cycles}: killed ${victim === relay ? 'relay node A' : 'home node B'}; ${acknowledged.size} acknowledged, ${picker.seen.size} delivered`)
      await sleep(between([50, 400]))
      await victim.start(victim === relay ? ['--bootstrap', home.multiaddr] : [])
    }
    await sending
    log(`all ${forwards.length} forwards acknowledged; draining`)

    // SIGTERM under load: the home node stops while forwards keep arriving.
    const lateForwards: Forward[] = []
    for (let i = 0; i < 40; i++) {
      const content = `sigterm-${i}`
      lateForwards.push({ content, node: home, packed: await business.pack(business.message(BASIC, { content }, pairwise), pairwise, business.did, { forward: true }) })
    }
    for (const forward of lateForwards) byContent.set(forward.content, forward)
    const before = acknowledged.size
    const late = Promise.all(lateForwards.map(async (forward, i) => { await sleep(i * 5); await send(forward) }))
    await sleep(60)
    const stopStart = performance.now()
    const exitCode = await home.kill('SIGTERM')
    const stopMs = Math.round(performance.now() - stopStart)
    await late
    const acknowledgedDuringStop = acknowledged.size - before
    await home.start()

    await waitFor(async () => await relay.outboxDepth().catch(() => 1) === 0 ? true : undefined, 120_000, "the relay node's outbox to drain")
      .catch(async (err: Error) => {
        const mesh = await relay.info().then(info => info.mesh, (e: Error) => e.message)
        if (process.env.CRASH_LOG_FILE !== undefined) await writeFile(process.env.CRASH_LOG_FILE, relay.log())
        const status = await relay.statusText().catch((e: Error) => e.message)
        throw new Error(`${err.message}; its /info mesh: ${JSON.stringify(mesh)}; its /status: ${status}; its log: ${relay.log().slice(-3000)}`)
      })
    await waitFor(() => [...acknowledged].every(content => picker.seen.has(content)) ? true : undefined, 60_000, 'every acknowledged forward to arrive').catch(() => undefined)
    picking = false
    await pickerLoop

    const lost = [...acknowledged].filter(content => !picker.seen.has(content)).length
    const duplicates = [...picker.seen.values()].reduce((sum, n) => sum + n - 1, 0)
    return {
      store,
      cycles: options.cycles,
      kills,
      sent: forwards.length + lateForwards.length,
      acknowledged: acknowledged.size,
      delivered: [...acknowledged].filter(content => picker.seen.has(content)).length,
      lost,
      duplicates,
      deliveredAfterRemoval: picker.deliveredAfterRemoval,
      resent,
      sigterm: { exitCode, stopMs, acknowledgedDuringStop },
      seconds: Math.round((performance.now() - started) / 1000)
    }
  } finally {
    ended = true
    for (const node of nodes) await node.kill('SIGKILL').catch(() => undefined)
    for (const dir of dirs) await dir?.remove()
    await postgres?.stop()
  }
}
