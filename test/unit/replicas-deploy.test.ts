/**
 * deploy/replicas (no Docker engine needed): the compose file gives every replica the same key,
 * public URL and store, each as the node's config loader reads them, and haproxy.cfg sends traffic
 * to every replica and checks /ready; `haproxy -c` checks its syntax (test/replicas/haproxy.test.ts runs it).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { describeOptions, loadConfig } from '../../config/load.ts'
import { KEY_PASSPHRASE_ENV } from '../../storage/node-key-file.ts'
import { HAPROXY_CFG, haproxyMissing } from '../helpers/haproxy.ts'

const COMPOSE = new URL('../../deploy/replicas/docker-compose.yml', import.meta.url)
const DOCKERFILE = new URL('../../Dockerfile', import.meta.url)
const REPLICAS = ['replica1', 'replica2', 'replica3']
/** What an operator sets before `docker compose up`. */
const OPERATOR_ENV = { POSTGRES_PASSWORD: 'secret', MESH_HOST: 'mesh.example' }

interface Service {
  image?: string
  build?: string
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  networks?: Record<string, { ipv4_address?: string }>
}

/** docker compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from `env`. */
function interpolate (value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, word = '') => {
    const set = env[name]
    if (set !== undefined && set !== '') return set
    if (kind === '?') throw new Error(`${name}: ${word}`)
    return kind === '-' ? word : ''
  })
}

const services = (parse(await readFile(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, Service> }).services
const service = (name: string): Service => {
  const found = services[name]
  assert.ok(found, `a ${name} service`)
  return found
}
const environmentOf = (name: string, env: Record<string, string> = OPERATOR_ENV): Record<string, string> =>
  Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, interpolate(String(value), env)]))
const haproxyCfg = await readFile(HAPROXY_CFG, 'utf8')

describe('deploy/replicas/docker-compose.yml', () => {
  it('has PostgreSQL with a volume and a health check, the key service, three replicas and HAProxy', () => {
    assert.deepEqual(Object.keys(services).sort(), ['haproxy', 'node-key', 'postgres', ...REPLICAS].sort())
    const postgres = service('postgres')
    assert.match(postgres.image ?? '', /^postgres:\d+$/)
    assert.ok(postgres.volumes?.some(volume => volume.endsWith(':/var/lib/postgresql/data')), 'the database on a volume')
    assert.match(postgres.healthcheck?.test.join(' ') ?? '', /pg_isready/)
    assert.match(service('haproxy').image ?? '', /^haproxy:[\d.]+$/)
    assert.ok(service('haproxy').volumes?.includes('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'))
  })

  it('refuses to start without a database password', () => {
    assert.throws(() => environmentOf('postgres', {}), /POSTGRES_PASSWORD/)
    assert.throws(() => environmentOf('replica1', {}), /POSTGRES_PASSWORD/)
  })

  it("creates the key once in a volume that every replica mounts read-only as the image's data dir", async () => {
    assert.match(await readFile(DOCKERFILE, 'utf8'), /DIDCOMM_MESH_DATA_DIR=\/data\b/)
    const keyService = service('node-key')
    assert.deepEqual(keyService.command, ['node', 'dist/node/cli.js', 'id'])
    assert.deepEqual(keyService.volumes, ['node-key:/data'])
    for (const name of REPLICAS) {
      const replica = service(name)
      assert.deepEqual(replica.volumes, ['node-key:/data:ro'], `${name} reads the shared key and cannot make its own`)
      assert.deepEqual(replica.depends_on, { postgres: { condition: 'service_healthy' }, 'node-key': { condition: 'service_completed_successfully' } })
      assert.equal(replica.build, keyService.build, 'the same image')
      assert.equal(environmentOf(name)[KEY_PASSPHRASE_ENV], environmentOf('node-key')[KEY_PASSPHRASE_ENV], 'the key is sealed and opened with one passphrase')
    }
  })

  it('gives every replica, as its config loader reads them, the same public URL and store from the environment', () => {
    const known = new Set([...describeOptions().map(option => option.env), KEY_PASSPHRASE_ENV])
    const haproxyAddress = service('haproxy').networks?.default?.ipv4_address
    const configs = REPLICAS.map(name => {
      const env = environmentOf(name)
      for (const key of Object.keys(env)) assert.ok(known.has(key), `${name}: ${key} is a node option`)
      assert.ok(!(service(name).command ?? []).some(arg => arg.includes('postgres')), 'the store URL, password included, is not a flag')
      return loadConfig({ env })
    })
    for (const config of configs) {
      assert.equal(config.store, 'postgres://mesh:secret@postgres:5432/mesh')
      assert.equal(config.publicUrl, configs[0]?.publicUrl)
      assert.deepEqual(config.trustProxy, [haproxyAddress], 'only HAProxy is believed about client addresses')
    }
    assert.equal(environmentOf('postgres').POSTGRES_PASSWORD, 'secret')
    assert.equal(environmentOf('node-key').DIDCOMM_MESH_PUBLIC_URL, configs[0]?.publicUrl, '`id` prints the DID the replicas publish')
  })

  it('every replica announces HAProxy\'s libp2p port, which HAProxy publishes', () => {
    for (const name of REPLICAS) {
      assert.deepEqual(service(name).ports ?? [], [], `${name} is reached through HAProxy only`)
      assert.deepEqual(loadConfig({ env: environmentOf(name) }).announce, ['/dns4/mesh.example/tcp/4001'])
    }
    assert.ok(service('haproxy').ports?.includes('4001:4001'), 'HAProxy publishes the libp2p port')
  })
})

describe('deploy/replicas/haproxy.cfg', () => {
  it('sends HTTP and WebSocket, and libp2p over TCP, to every replica, checked with GET /ready', () => {
    for (const name of REPLICAS) assert.match(haproxyCfg, new RegExp(`^\\s*server ${name} ${name}:8080$`, 'm'))
    for (const name of REPLICAS) assert.match(haproxyCfg, new RegExp(`^\\s*server ${name} ${name}:4001$`, 'm'))
    assert.match(haproxyCfg, /^frontend libp2p\n\s*mode tcp\n\s*bind :4001$/m)
    assert.match(haproxyCfg, /^\s*default-server check\b/m, 'every server is health-checked')
    assert.match(haproxyCfg, /^\s*option httpchk$/m)
    assert.match(haproxyCfg, /^\s*http-check send meth GET uri \/ready$/m)
    assert.match(haproxyCfg, /^\s*mode http$/m)
  })

  it("keeps quiet WebSockets open across the node's 30 s pings", () => {
    const tunnel = /^\s*timeout tunnel (\d+)s$/m.exec(haproxyCfg)?.[1]
    assert.ok(Number(tunnel) > 30, `timeout tunnel ${tunnel}s is above the ping interval`)
  })

  it('listens where the compose file publishes it', () => {
    const [published] = service('haproxy').ports ?? []
    const port = published?.split(':')[1]
    assert.match(haproxyCfg, new RegExp(`^\\s*bind :${port}$`, 'm'))
  })

  it('is valid for HAProxy', { skip: haproxyMissing() }, () => {
    // Outside Docker the replica names do not resolve: init-addr none leaves them down, not an error.
    execFileSync('haproxy', ['-c', '-q', '-f', HAPROXY_CFG.pathname], { stdio: 'pipe' })
  })
})
