#!/usr/bin/env -S node --max-semi-space-size=4
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { fromString } from 'uint8arrays'
import packageJson from '../package.json' with { type: 'json' }
import { addAgentCommands } from '../client/cli.ts'
import { addConfigOptions } from '../config/cli-options.ts'
import { ConfigError, loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { mintInvitationToken } from '../protocols/coordinate-mediation/invitation-token.ts'
import { mediationInvitation } from '../protocols/out-of-band/messages.ts'
import { KEY_PASSPHRASE_ENV, KeyFileError, NODE_KEY_ENV, loadOrCreateNodeKeys, nodeSecret } from '../storage/node-key-file.ts'
import type { NodeKeys } from '../storage/node-key-file.ts'
import { TargetNotEmptyError } from '../storage/copy.ts'
import { NoStoreError } from '../storage/open.ts'
import { StoreUnavailableError } from '../storage/store.ts'
import { AdminCommandError } from './admin-client.ts'
import { addBackupCommand } from './backup-cli.ts'
import { addClientsCommands } from './clients-cli.ts'
import { endpointsFor, mediatorDid } from './identity.ts'
import { createNode } from './node.ts'
import { addStoreCommands } from './store-cli.ts'
import type { NodeInfo } from './node.ts'

/** Exit codes: 1 runtime failure, 2 bad configuration or usage. */
const EXIT_CONFIG = 2
const INVITATION_DAYS_MAX = 365

function configFrom (command: Command): Config {
  return loadConfig({ env: process.env, flags: command.opts() })
}

async function offlineKeys (config: Config): Promise<NodeKeys> {
  return await loadOrCreateNodeKeys(config.dataDir, process.env[KEY_PASSPHRASE_ENV], process.env[NODE_KEY_ENV])
}

/** The node's identity as `start` would publish it, without starting anything. */
function offlineIdentity (config: Config, keys: NodeKeys): { did: string, peerId: string, endpoints: ReturnType<typeof endpointsFor> } {
  const peerId = peerIdFromPrivateKey(privateKeyFromProtobuf(fromString(keys.libp2p, 'base64'))).toString()
  const endpoints = endpointsFor(config, config.httpPort, peerId)
  return { did: mediatorDid(keys, endpoints), peerId, endpoints }
}

const program = new Command('didcomm-mesh')
  .description('A peer-to-peer mesh of DIDComm v2 mediator nodes')
  .version(packageJson.version)
  .exitOverride()

addConfigOptions(program.command('start').description('run a mediator node (what `npm start` runs)'))
  .action(async (_opts, command: Command) => {
    const config = configFrom(command)
    const node = createNode(config, { keyPassphrase: process.env[KEY_PASSPHRASE_ENV], nodeKey: process.env[NODE_KEY_ENV] })
    await node.start()
    const info = node.info()
    console.log(`peer ID       ${info.peerId}`)
    console.log(`mediator DID  ${info.did}`)
    console.log(`HTTP          ${info.endpoints.http}`)
    console.log(`WebSocket     ${info.endpoints.ws}`)
    for (const ma of info.multiaddrs) console.log(`libp2p        ${ma}`)
    console.log(`invitation    ${node.invitation().url}`)
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) process.exit(1) // a second signal: exit at once
      stopping = true
      console.error(`${signal}: stopping`)
      node.stop().then(() => process.exit(0), err => { console.error(err); process.exit(1) })
    }
    process.on('SIGTERM', () => { stop('SIGTERM') })
    process.on('SIGINT', () => { stop('SIGINT') })
  })

addConfigOptions(program.command('id').description("print the node's mediator DID and peer ID").option('--json', 'print JSON'))
  .action(async (opts: { json?: boolean }, command: Command) => {
    const config = configFrom(command)
    const id = offlineIdentity(config, await offlineKeys(config))
    if (opts.json === true) console.log(JSON.stringify(id, null, 2))
    else console.log(`peer ID       ${id.peerId}\nmediator DID  ${id.did}`)
  })

function expirySeconds (value: string): number {
  const seconds = Number(value)
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > INVITATION_DAYS_MAX * 86_400) throw new InvalidArgumentError(`a whole number of seconds from 1 to ${INVITATION_DAYS_MAX * 86_400}`)
  return seconds
}

// Every invitation carries a single-use token as its id (what `--mediation invite` asks for; other
// modes ignore it): minted from the key file alone, as the running node holds the store.
addConfigOptions(program.command('invite').description('print a single-use out-of-band invitation to request mediation from this node')
  .option('--json', 'print the invitation message as JSON')
  .option('--expires-in <seconds>', 'how long the invitation can be used', expirySeconds, 7 * 86_400))
  .action(async (opts: { json?: boolean, expiresIn: number }, command: Command) => {
    const config = configFrom(command)
    const keys = await offlineKeys(config)
    const id = offlineIdentity(config, keys)
    const expiresAt = Date.now() + opts.expiresIn * 1000
    const invitation = mediationInvitation(id.did, id.endpoints.http, { id: mintInvitationToken(nodeSecret(keys, 'invite'), expiresAt), expiresAt, label: config.nodeName })
    console.log(opts.json === true ? JSON.stringify(invitation, null, 2) : invitation.url)
  })

program.command('peers')
  .description("show a running node's connected peers, route lookups and relay outbox (from its /info)")
  .option('--url <url>', 'the node\'s HTTP URL', 'http://127.0.0.1:8080')
  .option('--json', 'print JSON')
  .action(async (opts: { url: string, json?: boolean }) => {
    let info: NodeInfo
    try {
      info = await (await fetch(new URL('/info', opts.url))).json() as NodeInfo
    } catch (err) {
      throw new Error(`cannot reach a node at ${opts.url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    if (opts.json === true) {
      console.log(JSON.stringify({ peerId: info.peerId, peers: info.peers, mesh: info.mesh }, null, 2))
      return
    }
    console.log(`peer ID       ${info.peerId}`)
    console.log(`peers (${info.peers.length})`)
    for (const peer of info.peers) console.log(`  ${peer}`)
    const { routes, outbox } = info.mesh
    console.log(`routes        ${Object.entries(routes.lookups).map(([source, n]) => `${source} ${n}`).join(', ')}; failed ${routes.failures}; unproven providers ignored ${routes.unprovenProviders}`)
    console.log(`outbox        ${outbox.depth} waiting; delivered ${outbox.delivered}, expired ${outbox.expired}, rejected ${outbox.rejected}, retries ${outbox.retries}`)
  })

addClientsCommands(program, configFrom, offlineKeys)
addBackupCommand(program, configFrom, offlineKeys)
addStoreCommands(program, configFrom)
addAgentCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG)
  // A store newer than this node, or locked by a running one, is a runtime failure (1): the
  // configuration names the right store, the software or the moment is wrong.
  if (err instanceof ConfigError || err instanceof KeyFileError || err instanceof NoStoreError || err instanceof TargetNotEmptyError) {
    console.error(`didcomm-mesh: ${err.message}`)
    process.exit(EXIT_CONFIG)
  }
  if (err instanceof AdminCommandError) {
    console.error(`didcomm-mesh: ${err.message}`)
    process.exit(err.exitCode)
  }
  // The driver's reason too (a refused password, an unknown host), when the store could not be reached.
  const cause = err instanceof StoreUnavailableError && err.cause instanceof Error ? `: ${err.cause.message}` : ''
  console.error(`didcomm-mesh: ${err instanceof Error ? err.message : String(err)}${cause}`)
  process.exit(1)
}
