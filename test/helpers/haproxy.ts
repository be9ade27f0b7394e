/**
 * HAProxy, run by a test with deploy/replicas/haproxy.cfg in front of replicas on this machine: the
 * file's replica names become their loopback ports, and it listens on 127.0.0.1 only.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { applyChanges, toolMissing } from './deploy-files.ts'
import { tempDir, waitFor } from './node.ts'

export const HAPROXY_CFG = new URL('../../deploy/replicas/haproxy.cfg', import.meta.url)

export function haproxyMissing (): string | undefined {
  return toolMissing('haproxy', ['-v'], 'apt-get install haproxy; .ci/run installs it')
}

export interface TestHaproxy {
  /** http://127.0.0.1:<port> */
  url: string
  stop(): Promise<void>
}

/**
 * Starts HAProxy on `port` (HTTP) and `p2pPort` (libp2p) in front of `replicas` (replica1, replica2,
 * … in order), each checked on its own HTTP port.
 */
export async function startHaproxy (port: number, p2pPort: number, replicas: Array<{ url: string, p2pPort: number }>): Promise<TestHaproxy> {
  const cfg = applyChanges(await readFile(HAPROXY_CFG, 'utf8'), [
    [/bind :8080$/m, `bind 127.0.0.1:${port}`],
    [/bind :4001$/m, `bind 127.0.0.1:${p2pPort}`],
    // Docker's DNS is not here: the replicas are addresses, not names.
    [/ resolvers docker/g, ''],
    // Quiet: the test reads answers, not access logs.
    [/^\s*log stdout .*$/m, ''],
    ...replicas.flatMap(({ url, p2pPort: replicaP2p }, i): Array<[RegExp, string]> => {
      const httpPort = new URL(url).port
      return [
        [new RegExp(`server replica${i + 1} replica${i + 1}:8080$`, 'm'), `server replica${i + 1} 127.0.0.1:${httpPort}`],
        [new RegExp(`server replica${i + 1} replica${i + 1}:4001$`, 'm'), `server replica${i + 1} 127.0.0.1:${replicaP2p} port ${httpPort}`]
      ]
    })
  ], 'deploy/replicas/haproxy.cfg')
  const dir = await tempDir('didcomm-mesh-haproxy-')
  const path = join(dir.path, 'haproxy.cfg')
  await writeFile(path, cfg)
  const child = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    await dir.remove()
  }
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`)
      return await fetch(`${url}/ready`).then(answer => answer.status === 200 ? true : undefined, () => undefined)
    }, 15_000, 'haproxy to reach a ready replica')
  } catch (err) {
    await stop()
    throw err
  }
  return { url, stop }
}
