import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { addConfigOptions } from '../../config/cli-options.ts'
import { ConfigError, describeOptions, loadConfig, readConfigFile } from '../../config/load.ts'
import { configSchema } from '../../config/schema.ts'

const dir = mkdtempSync(join(tmpdir(), 'didcomm-mesh-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function writeFile(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function configError(option: string, text: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.option, option)
    assert.match(err.message, new RegExp(text))
    return true
  }
}

describe('loadConfig', () => {
  it('uses the schema defaults when nothing is given', () => {
    assert.deepEqual(loadConfig({}), {
      dataDir: './data',
      host: '127.0.0.1',
      httpPort: 8080,
      p2pPort: 4001,
      nodeName: 'didcomm-mesh node',
      homePage: true,
      didWebPorts: [443],
      logLevel: 'info',
      maxMessageBytes: 1_048_576,
      maxMessagesPerRecipient: 10_000,
      maxBytesPerRecipient: 104_857_600,
      messageLifetimeSeconds: 604_800,
      maxRecipientsPerClient: 1000,
      maxMediations: 100_000,
      mediation: 'open',
      rateLimit: 100,
      rateBurst: 200,
      trustProxy: [],
      forwardedHeader: 'x-forwarded-for',
      rateP2pPeersPerHost: 4,
      requestTimeoutSeconds: 30,
      websocketIdleSeconds: 300,
      corsOrigins: ['*'],
      legacyJwe: true,
      websocketFrames: 'auto',
      bootstrap: [],
      announce: [],
      mdns: false,
      privateAddresses: true,
      maxConnections: 300,
      maxConnectionsPerHost: 32,
      inboundConnectionsPerSecond: 5,
      relayOpen: false,
      relayPrivateDestinations: false,
      relayMaxAttempts: 50,
      relayMaxDelaySeconds: 3600,
      outboxMaxPerOrigin: 1000,
      outboxMaxMessages: 100_000,
      outboxMaxBytes: 1024 ** 3,
      pushHosts: ['fcm.googleapis.com', 'updates.push.services.mozilla.com', '*.notify.windows.com', 'web.push.apple.com'],
      pushPrivateDestinations: false,
      pushIntervalSeconds: 60,
      pushMaxAttempts: 5,
      pushQueueMax: 10_000,
      maxPushDevicesPerClient: 10,
      mix: true,
      mixDelayMs: 10,
      mixMaxHeld: 1000,
      mixPeersPerHost: 2
    })
  })

  it('push: a gateway URL must be http(s), a VAPID subject mailto: or https:, push hosts names or addresses', () => {
    const config = loadConfig({ env: { DIDCOMM_MESH_PUSH_GATEWAY_URL: 'https://gw.example/notify', DIDCOMM_MESH_PUSH_VAPID_SUBJECT: 'mailto:ops@example.org', DIDCOMM_MESH_PUSH_HOSTS: 'push.example, *.push.example,127.0.0.1' } })
    assert.equal(config.pushGatewayUrl, 'https://gw.example/notify')
    assert.equal(config.pushVapidSubject, 'mailto:ops@example.org')
    assert.deepEqual(config.pushHosts, ['push.example', '*.push.example', '127.0.0.1'])
    assert.throws(() => loadConfig({ flags: { pushGatewayUrl: 'ftp://gw.example' } }), /--push-gateway-url \(DIDCOMM_MESH_PUSH_GATEWAY_URL\)/)
    assert.throws(() => loadConfig({ flags: { pushVapidSubject: 'http://example.org' } }), /--push-vapid-subject/)
    assert.throws(() => loadConfig({ flags: { pushHosts: ['https://push.example/x'] } }), /--push-hosts/)
  })

  it('layers file < env < flags (JSON file)', () => {
    const file = writeFile('config.json', JSON.stringify({ httpPort: 1000, p2pPort: 1001, logLevel: 'warn', dataDir: '/file' }))
    const config = loadConfig({
      file,
      env: { DIDCOMM_MESH_P2P_PORT: '2001', DIDCOMM_MESH_LOG_LEVEL: 'debug', DIDCOMM_MESH_UNKNOWN: 'ignored' },
      flags: { logLevel: 'trace', host: undefined }
    })
    assert.equal(config.dataDir, '/file')
    assert.equal(config.httpPort, 1000)
    assert.equal(config.p2pPort, 2001)
    assert.equal(config.logLevel, 'trace')
    assert.equal(config.host, '127.0.0.1')
  })

  it('layers file < env < flags (YAML file)', () => {
    const file = writeFile('config.yaml', 'mdns: true\nbootstrap:\n  - /ip4/1.1.1.1/tcp/1\ncorsOrigins: [https://a.example]\nmaxConnections: 5\n')
    const config = loadConfig({ file, env: { DIDCOMM_MESH_MDNS: 'no', DIDCOMM_MESH_MAX_CONNECTIONS: '6' }, flags: { mdns: 'yes' } })
    assert.deepEqual(config.bootstrap, ['/ip4/1.1.1.1/tcp/1'])
    assert.deepEqual(config.corsOrigins, ['https://a.example'])
    assert.equal(config.maxConnections, 6)
    assert.equal(config.mdns, true)
  })

  it('converts env strings to lists and booleans', () => {
    const config = loadConfig({
      env: { DIDCOMM_MESH_ANNOUNCE: '/ip4/1.2.3.4/tcp/1, /dns4/x.example/tcp/2', DIDCOMM_MESH_MDNS: '1', DIDCOMM_MESH_CORS_ORIGINS: '' }
    })
    assert.deepEqual(config.announce, ['/ip4/1.2.3.4/tcp/1', '/dns4/x.example/tcp/2'])
    assert.equal(config.mdns, true)
    assert.deepEqual(config.corsOrigins, [])
  })

  it('takes the file path from flags.config over env DIDCOMM_MESH_CONFIG over sources.file', () => {
    const a = writeFile('a.yml', 'httpPort: 1\n')
    const b = writeFile('b.yml', 'httpPort: 2\n')
    const c = writeFile('c.yml', 'httpPort: 3\n')
    assert.equal(loadConfig({ file: a, env: { DIDCOMM_MESH_CONFIG: b }, flags: { config: c } }).httpPort, 3)
    assert.equal(loadConfig({ file: a, env: { DIDCOMM_MESH_CONFIG: b } }).httpPort, 2)
    assert.equal(loadConfig({ file: a }).httpPort, 1)
  })

  it('names the flag and env var of a bad value', () => {
    assert.throws(
      () => loadConfig({ env: { DIDCOMM_MESH_HTTP_PORT: 'abc' } }),
      { name: 'ConfigError', message: "invalid value for --http-port (DIDCOMM_MESH_HTTP_PORT): expected an integer from 0 to 65535, got 'abc'" }
    )
    const cases: [string, string, unknown, string][] = [
      ['httpPort', 'http-port', '70000', 'an integer from 0 to 65535'],
      ['httpPort', 'http-port', '', 'an integer from 0 to 65535'],
      ['p2pPort', 'p2p-port', 4001.5, 'an integer from 0 to 65535'],
      ['logLevel', 'log-level', 'loud', 'one of fatal, error'],
      ['publicUrl', 'public-url', 'ftp://x', 'an http\\(s\\) URL'],
      ['maxMessageBytes', 'max-message-bytes', '12abc', 'an integer of at least 1024'],
      ['maxMessageBytes', 'max-message-bytes', '1023', 'an integer of at least 1024'],
      ['mdns', 'mdns', 'maybe', 'a boolean'],
      ['dataDir', 'data-dir', '', 'a non-empty string'],
      ['trustProxy', 'trust-proxy', 'localhost', 'a list of strings'],
      ['trustProxy', 'trust-proxy', '10.0.0.0/33', 'a list of strings'],
      ['statusToken', 'status-token', 'too-short', 'a string of at least 16 characters'],
      ['nodeName', 'node-name', '', 'a string of 1 to 64 characters'],
      ['homePage', 'home-page', 'off', 'a boolean'],
      ['didWebPorts', 'did-web-ports', ['https'], 'a list of integers from 1 to 65535'],
      ['didWebPorts', 'did-web-ports', '0', 'a list of integers from 1 to 65535']
    ]
    for (const [key, flag, value, expected] of cases) {
      assert.throws(() => loadConfig({ flags: { [key]: value } }), configError(key, `--${flag} .*expected ${expected}`))
    }
  })

  it('takes trusted proxies as addresses and CIDRs, comma-separated in the environment', () => {
    const config = loadConfig({ env: { DIDCOMM_MESH_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,fd00::/8', DIDCOMM_MESH_FORWARDED_HEADER: 'forwarded' } })
    assert.deepEqual(config.trustProxy, ['127.0.0.1', '10.0.0.0/8', 'fd00::/8'])
    assert.equal(config.forwardedHeader, 'forwarded')
  })

  it('turns the home page off with --home-page false, and takes the status token from the environment', () => {
    assert.equal(loadConfig({ flags: { homePage: 'false' } }).homePage, false)
    assert.equal(loadConfig({ env: { DIDCOMM_MESH_STATUS_TOKEN: 'sixteen-chars-ok' } }).statusToken, 'sixteen-chars-ok')
  })

  it('takes did:web ports as a list of numbers (comma-separated in the environment, repeated flags); empty fetches no did:web', () => {
    assert.deepEqual(loadConfig({ env: { DIDCOMM_MESH_DID_WEB_PORTS: '443, 8443' } }).didWebPorts, [443, 8443])
    assert.deepEqual(loadConfig({ env: { DIDCOMM_MESH_DID_WEB_PORTS: '' } }).didWebPorts, [])
    assert.deepEqual(loadConfig({ file: writeFile('ports.yaml', 'didWebPorts: [443, 8443]\n') }).didWebPorts, [443, 8443])
  })

  it('accepts http and https public URLs', () => {
    assert.equal(loadConfig({ flags: { publicUrl: 'https://mediator.example' } }).publicUrl, 'https://mediator.example')
    assert.equal(loadConfig({ flags: { publicUrl: 'http://localhost:8080' } }).publicUrl, 'http://localhost:8080')
  })
})

describe('readConfigFile', () => {
  it('rejects unknown keys', () => {
    const file = writeFile('unknown.json', JSON.stringify({ httpPort: 1, colour: 'red' }))
    assert.throws(() => readConfigFile(file), configError('colour', "unknown option 'colour'"))
    assert.throws(() => loadConfig({ file }), ConfigError)
  })

  it('rejects missing, malformed and non-object files', () => {
    assert.throws(() => readConfigFile(join(dir, 'missing.json')), configError('config', 'cannot read config file'))
    assert.throws(() => readConfigFile(writeFile('bad.yaml', 'a: [')), configError('config', 'cannot read config file'))
    assert.throws(() => readConfigFile(writeFile('list.json', '[1]')), configError('config', 'must contain an object'))
    assert.throws(() => readConfigFile(writeFile('config.toml', '')), configError('config', 'must end in'))
  })

  it('treats an empty YAML file as no options', () => {
    assert.deepEqual(readConfigFile(writeFile('empty.yaml', '')), {})
  })
})

describe('describeOptions', () => {
  it('covers every schema key with its flag and env var', () => {
    const options = describeOptions()
    assert.deepEqual(options.map((o) => o.key), Object.keys(configSchema.shape))
    const p2p = options.find((o) => o.key === 'p2pPort')
    assert.equal(p2p?.flag, 'p2p-port')
    assert.equal(p2p?.env, 'DIDCOMM_MESH_P2P_PORT')
    assert.equal(p2p?.defaultValue, 4001)
    for (const o of options) assert.ok(o.description, `${o.key} has a description`)
  })
})

describe('addConfigOptions', () => {
  function parse(argv: string[]): Record<string, unknown> {
    const command = addConfigOptions(new Command().exitOverride())
    return command.parse(argv, { from: 'user' }).opts()
  }

  it('parses flags that loadConfig accepts', () => {
    const flags = parse(['--http-port', '9000', '--bootstrap', '/ip4/1.2.3.4/tcp/1', '--bootstrap', '/ip4/5.6.7.8/tcp/2', '--mdns'])
    const config = loadConfig({ flags })
    assert.equal(config.httpPort, 9000)
    assert.deepEqual(config.bootstrap, ['/ip4/1.2.3.4/tcp/1', '/ip4/5.6.7.8/tcp/2'])
    assert.equal(config.mdns, true)
    assert.equal(loadConfig({ flags: parse(['--legacy-jwe', 'false']) }).legacyJwe, false)
    assert.deepEqual(loadConfig({ flags: parse(['--did-web-ports', '443', '--did-web-ports', '8443']) }).didWebPorts, [443, 8443])
  })

  it('leaves absent flags undefined so env and file still apply', () => {
    const flags = parse(['--mdns', 'false', '-c', writeFile('flags.json', '{"httpPort": 7000}')])
    assert.equal(flags.logLevel, undefined)
    const config = loadConfig({ env: { DIDCOMM_MESH_LOG_LEVEL: 'warn', DIDCOMM_MESH_MDNS: 'true' }, flags })
    assert.equal(config.logLevel, 'warn')
    assert.equal(config.mdns, false)
    assert.equal(config.httpPort, 7000)
  })
})
