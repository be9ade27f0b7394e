/**
 * nginx, run by a test in front of a node with deploy/nginx.conf, over TLS with a certificate made
 * for the occasion (trusted only by the clients the test gives it to). Listens on 127.0.0.1 only.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { request as httpRequest, Agent as HttpAgent } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import { join } from 'node:path'
import { applyChanges, toolMissing } from './deploy-files.ts'
import { tempDir, waitFor } from './node.ts'
import { localhostCertificate } from './tls.ts'

export const NGINX_SITE = new URL('../../deploy/nginx.conf', import.meta.url)

/** Why nginx cannot run here, or undefined when it can. Under CI its absence is a failure, not a skip. */
export function nginxMissing (): string | undefined {
  return toolMissing('nginx', ['-v'], 'apt-get install nginx; .ci/run installs it')
}

// One free-port helper: the benchmark's.
export { freePort } from '../../bench/lib/ports.ts'

/** The test certificate (helpers/tls.ts) in `dir`, where nginx reads it. */
async function testCertificate (dir: string): Promise<{ cert: string, certPath: string, keyPath: string }> {
  const { cert, key } = await localhostCertificate()
  const certPath = join(dir, 'cert.pem')
  const keyPath = join(dir, 'key.pem')
  await writeFile(certPath, cert)
  await writeFile(keyPath, key, { mode: 0o600 })
  return { cert, certPath, keyPath }
}

export interface TestNginx {
  /** https://127.0.0.1:<port> */
  url: string
  /** The PEM certificate clients must trust. */
  cert: string
  stop(): Promise<void>
}

/** deploy/nginx.conf with the test's port, certificate and node; each change must apply, so the file cannot drift from the test. */
function siteFor (site: string, port: number, nodePort: number, certPath: string, keyPath: string, changes: Array<[RegExp, string]>): string {
  const all: Array<[RegExp, string]> = [
    [/listen 443 ssl http2;/, `listen 127.0.0.1:${port} ssl http2;`],
    [/\n\s*listen \[::\]:443 ssl http2;/, ''],
    [/server 127\.0\.0\.1:8080;/, `server 127.0.0.1:${nodePort};`],
    [/ssl_certificate \s*\S+;/, `ssl_certificate ${certPath};`],
    [/ssl_certificate_key \S+;/, `ssl_certificate_key ${keyPath};`],
    ...changes
  ]
  return applyChanges(site, all, 'deploy/nginx.conf')
}

/**
 * Starts nginx on `port` (127.0.0.1) in front of the node listening at `nodeUrl`; `changes` edit the
 * site file further (e.g. a shorter proxy timeout).
 */
export async function startNginx (port: number, nodeUrl: string, changes: Array<[RegExp, string]> = []): Promise<TestNginx> {
  const dir = await tempDir('didcomm-mesh-nginx-')
  // Workers run as nobody when nginx starts as root: they must reach the temp dirs inside.
  await chmod(dir.path, 0o755)
  const { cert, certPath, keyPath } = await testCertificate(dir.path)
  const site = siteFor(await readFile(NGINX_SITE, 'utf8'), port, Number(new URL(nodeUrl).port), certPath, keyPath, changes)
  await writeFile(join(dir.path, 'site.conf'), site)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(kind => `${kind}_temp_path ${join(dir.path, kind)};`).join('\n  ')
  await writeFile(join(dir.path, 'nginx.conf'), `worker_processes 1;
error_log ${join(dir.path, 'error.log')} warn;
pid ${join(dir.path, 'nginx.pid')};
events { worker_connections 1024; }
http {
  access_log off;
  ${temp}
  include ${join(dir.path, 'site.conf')};
}
`)
  const child: ChildProcess = spawn('nginx', ['-p', dir.path, '-c', join(dir.path, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  const url = `https://127.0.0.1:${port}`
  const client = boundClient('127.0.0.1', cert)
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${await readFile(join(dir.path, 'error.log'), 'utf8').catch(() => '')}`)
      return await client.get(`${url}/health`).then(answer => answer.status === 200 ? true : undefined, () => undefined)
    }, 10_000, 'nginx to answer')
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    await dir.remove()
    throw err
  } finally {
    client.close()
  }
  return {
    url,
    cert,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await exited
      }
      await dir.remove()
    }
  }
}

export interface BoundClient {
  post(url: string, body: string, headers?: Record<string, string>): Promise<{ status: number, text: string }>
  get(url: string): Promise<{ status: number, text: string }>
  close(): void
}

/**
 * HTTP(S) from one loopback source address (127.0.0.2, 127.0.0.3, … are all this host), trusting
 * `ca`, with kept-alive connections: how a test gives each simulated wallet its own address.
 */
export function boundClient (localAddress: string, ca: string): BoundClient {
  const agents = { http: new HttpAgent({ keepAlive: true, localAddress }), https: new HttpsAgent({ keepAlive: true, localAddress, ca }) }
  const send = async (url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string }> => {
    const https = url.startsWith('https:')
    const request = https ? httpsRequest : httpRequest
    return await new Promise((resolve, reject) => {
      const req = request(url, { method, agent: https ? agents.https : agents.http, headers: body === undefined ? headers : { 'content-type': 'application/didcomm-encrypted+json', ...headers } }, res => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  }
  return {
    post: async (url, body, headers) => await send(url, 'POST', body, headers),
    get: async url => await send(url, 'GET'),
    close: () => { agents.http.destroy(); agents.https.destroy() }
  }
}
