import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import type { MeshAgent, PushDevice, PushDevices, PushKind, ReceivedMessage } from './agent.ts'

interface AgentOptions { dir: string, json?: boolean }

const DEFAULT_DIR = process.env.DIDCOMM_MESH_AGENT_DIR ?? './agent'

function print (json: boolean | undefined, data: unknown, text: string): void {
  console.log(json === true ? JSON.stringify(data, null, 2) : text)
}

function describe (m: ReceivedMessage): string {
  const who = m.contact?.name ?? (m.from === undefined ? 'anonymous' : 'unknown sender')
  if (m.type.endsWith('/trust-ping/2.0/ping')) return m.message.pthid === undefined ? `${who}: ping` : `new contact: ${who} (accepted your invitation)`
  const content = typeof m.body.content === 'string' ? m.body.content : JSON.stringify(m.body)
  return `${who}: ${m.type.endsWith('/basicmessage/2.0/message') ? content : `[${m.type}] ${content}`}`
}

function summary (m: ReceivedMessage): Record<string, unknown> {
  return { id: m.id, type: m.type, contact: m.contact?.name, body: m.body }
}

/** The one device `agent push set` names: a Web Push subscription (JSON, or @file holding it), or an FCM or APNs token. */
function pushDevice (opts: { webpush?: string, fcm?: string, apns?: string, platform?: string }): PushDevice {
  const given = [opts.webpush, opts.fcm, opts.apns].filter(v => v !== undefined)
  if (given.length !== 1) throw new Error('name one device: --webpush <subscription JSON or @file>, --fcm <token> or --apns <token>')
  if (opts.fcm !== undefined) return { kind: 'fcm', token: opts.fcm, ...(opts.platform === undefined ? {} : { platform: opts.platform }) }
  if (opts.apns !== undefined) return { kind: 'apns', token: opts.apns }
  const text = (opts.webpush as string).startsWith('@') ? readFileSync((opts.webpush as string).slice(1), 'utf8') : opts.webpush as string
  let subscription: unknown
  try {
    subscription = JSON.parse(text)
  } catch {
    throw new Error('--webpush must be a PushSubscription as JSON ({"endpoint", "keys": {"p256dh", "auth"}}), or @file holding one')
  }
  return { kind: 'webpush', subscription: subscription as Extract<PushDevice, { kind: 'webpush' }>['subscription'] }
}

function describeDevices (found: PushDevices): string {
  const lines = found.devices.map(d => `${d.kind}  ${d.id}  ${d.kind === 'webpush' ? d.subscription.endpoint : d.token}${d.kind === 'fcm' && d.platform !== undefined ? ` (${d.platform})` : ''}`)
  return [
    ...lines.length === 0 ? ['(no push devices)'] : lines,
    `offered: ${found.offered.join(', ')}`,
    ...found.vapidPublicKey === undefined ? [] : [`VAPID public key (applicationServerKey): ${found.vapidPublicKey}`]
  ].join('\n')
}

/** The agent in `dir`; its code (a wallet's, not a node's) loads only when an `agent` command runs. */
async function openAgent (...args: Parameters<typeof MeshAgent.open>): Promise<MeshAgent> {
  const { MeshAgent } = await import('./agent.ts')
  return await MeshAgent.open(...args)
}

/** `didcomm-mesh agent …`: a wallet or business agent on the command line, kept in `--dir`. */
export function addAgentCommands (program: Command): void {
  const agent = program.command('agent').description('a wallet or business agent: mediation, relationships, messages')
  const withDir = (command: Command): Command => command
    .option('--dir <path>', 'the agent\'s directory (env DIDCOMM_MESH_AGENT_DIR)', DEFAULT_DIR)
    .option('--json', 'print JSON')
  // The commands that send; with fewer mixes offered than asked they fail rather than send with fewer.
  const withMixHops = (command: Command): Command => command
    .option('--mix-hops <n>', 'mix nodes drawn at random for the message, 0 to 3 (default 2; fails when the node offers fewer)')
  const mixHopsOf = (opts: { mixHops?: string }): { mixHops?: number } => opts.mixHops === undefined ? {} : { mixHops: Number(opts.mixHops) }

  withDir(agent.command('init').description('create the agent (if new) and get mediation from a home node'))
    .requiredOption('--node <invitation|did>', 'the node\'s out-of-band invitation (URL or JSON) or mediator DID')
    .option('--mediation <version>', 'coordinate-mediation version: 3.0 or 2.0', '3.0')
    .action(async (opts: AgentOptions & { node: string, mediation: string }) => {
      if (opts.mediation !== '3.0' && opts.mediation !== '2.0') throw new Error(`--mediation must be 3.0 or 2.0, not '${opts.mediation}'`)
      const a = await openAgent(opts.dir)
      const node = await a.connect(opts.node, { mediation: opts.mediation })
      print(opts.json, { did: a.did, node }, `agent ready in ${opts.dir}, mediated by ${node.did.slice(0, 40)}…`)
    })

  withDir(agent.command('invite').description('start a relationship: print a single-use invitation URL'))
    .option('--label <name>', 'how the other side will name you')
    .action(async (opts: AgentOptions & { label?: string }) => {
      const a = await openAgent(opts.dir)
      const made = await a.createInvitation(opts.label === undefined ? {} : { label: opts.label })
      print(opts.json, made, made.url)
    })

  withMixHops(withDir(agent.command('accept <url>').description('accept an invitation: a new pairwise DID and a contact')))
    .option('--name <name>', 'your name for the contact (default: its label)')
    .option('--label <name>', 'how the other side will name you')
    .action(async (url: string, opts: AgentOptions & { name?: string, label?: string, mixHops?: string }) => {
      const a = await openAgent(opts.dir, mixHopsOf(opts))
      const contact = await a.acceptInvitation(url, { ...(opts.name === undefined ? {} : { name: opts.name }), ...(opts.label === undefined ? {} : { label: opts.label }) })
      print(opts.json, contact, `new contact: ${contact.name}`)
    })

  withDir(agent.command('contacts').description('list relationships'))
    .action(async (opts: AgentOptions) => {
      const a = await openAgent(opts.dir)
      print(opts.json, a.contacts, a.contacts.map(c => c.name).join('\n') || '(no contacts)')
    })

  withMixHops(withDir(agent.command('send <contact> <text>').description('send a basic message to a contact')))
    .option('--via <mediator-did>', 'an extra mesh hop (repeatable), instead of random mix hops', (value: string, previous: string[] = []) => [...previous, value])
    .action(async (contact: string, text: string, opts: AgentOptions & { via?: string[], mixHops?: string }) => {
      const a = await openAgent(opts.dir)
      const id = await a.send(contact, text, { ...(opts.via === undefined ? {} : { via: opts.via }), ...mixHopsOf(opts) })
      print(opts.json, { id }, `sent (${id})`)
    })

  withDir(agent.command('inbox').description('pick up waiting messages once'))
    .action(async (opts: AgentOptions) => {
      const a = await openAgent(opts.dir)
      const received = await a.pickup()
      print(opts.json, received.map(summary), received.map(describe).join('\n') || '(no messages)')
    })

  const push = agent.command('push').description('devices the home node wakes when messages wait and the agent is not live')
  withDir(push.command('set').description('register a device: a Web Push subscription, or an FCM or APNs token'))
    .option('--webpush <json|@file>', 'a browser\'s PushSubscription as JSON (subscribe with the VAPID key `push show` prints)')
    .option('--fcm <token>', 'an FCM registration token (woken through the node\'s push gateway)')
    .option('--platform <name>', 'with --fcm: the device platform, e.g. android or ios')
    .option('--apns <token>', 'an APNs device token (woken through the node\'s push gateway)')
    .action(async (opts: AgentOptions & { webpush?: string, fcm?: string, apns?: string, platform?: string }) => {
      const device = pushDevice(opts)
      const a = await openAgent(opts.dir)
      await a.setPushDevice(device)
      const found = await a.pushDevices()
      print(opts.json, found, describeDevices(found))
    })

  withDir(push.command('show').description('the devices the home node wakes, and the node\'s VAPID public key'))
    .action(async (opts: AgentOptions) => {
      const found = await (await openAgent(opts.dir)).pushDevices()
      print(opts.json, found, describeDevices(found))
    })

  withDir(push.command('remove').description('stop waking this agent\'s devices (of one kind, or all)'))
    .option('--kind <kind>', 'webpush, fcm or apns (default: all)')
    .action(async (opts: AgentOptions & { kind?: string }) => {
      if (opts.kind !== undefined && !['webpush', 'fcm', 'apns'].includes(opts.kind)) throw new Error(`--kind must be webpush, fcm or apns, not '${opts.kind}'`)
      const a = await openAgent(opts.dir)
      await a.removePushDevices(opts.kind as PushKind | undefined)
      const found = await a.pushDevices()
      print(opts.json, found, describeDevices(found))
    })

  withDir(agent.command('listen').description('receive messages live until interrupted'))
    .action(async (opts: AgentOptions) => {
      const a = await openAgent(opts.dir)
      // One line per message, so the output can be piped.
      const connection = await a.listen(m => { console.log(opts.json === true ? JSON.stringify(summary(m)) : describe(m)) })
      const stop = (): void => { void connection.close().then(() => process.exit(0)) }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
      console.error('listening; Ctrl-C to stop')
    })
}
