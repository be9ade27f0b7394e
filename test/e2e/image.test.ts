/**
 * What the container image runs, run here without Docker: `npm run build`, then the Dockerfile's own
 * CMD with its ENV (only the data dir, host and ports changed for the test). The node must serve
 * /health, /ready and /metrics, and stop with exit 0 on SIGTERM (what tini forwards).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { exitOf } from '../helpers/cli.ts'
import { tempDir, waitFor } from '../helpers/node.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The exec-form CMD and the ENV variables of the Dockerfile's last stage. */
async function imageRecipe (): Promise<{ cmd: string[], env: Record<string, string> }> {
  const dockerfile = await readFile(new URL('Dockerfile', `file://${ROOT}`), 'utf8')
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(lastStage)?.[1] ?? '[]') as string[]
  const envBlock = /^ENV ((?:.*\\\n)*.*)$/m.exec(lastStage)?.[1] ?? ''
  const env = Object.fromEntries([...envBlock.matchAll(/(\w+)=(\S+)/g)].map(match => [match[1] as string, match[2] as string]))
  return { cmd, env }
}

async function run (command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null, output: string }> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += String(chunk) })
  child.stderr.on('data', chunk => { output += String(chunk) })
  return { code: await exitOf(child, 120_000), output }
}

describe('the container image command, outside Docker', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  before(async () => { dir = await tempDir() })
  after(async () => { await dir.remove() })

  it('npm run build, then the image CMD serves /health, /ready and /metrics and exits 0 on SIGTERM', { timeout: 180_000 }, async () => {
    const build = await run('npm', ['run', 'build'])
    assert.equal(build.code, 0, build.output)

    const { cmd, env } = await imageRecipe()
    assert.deepEqual(cmd, ['node', 'dist/node/cli.js', 'start'], 'the image runs the build output')
    assert.equal(env.DIDCOMM_MESH_DATA_DIR, '/data')
    const overrides = { DIDCOMM_MESH_DATA_DIR: dir.path, DIDCOMM_MESH_HOST: '127.0.0.1', DIDCOMM_MESH_HTTP_PORT: '0', DIDCOMM_MESH_P2P_PORT: '0', DIDCOMM_MESH_P2P_WS_PORT: '0' }
    const child = spawn(process.execPath, cmd.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH, ...env, ...overrides }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', chunk => { stdout += String(chunk) })
    child.stderr.on('data', chunk => { stderr += String(chunk) })
    try {
      const url = await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`the node exited: ${stderr}`)
        return /^HTTP\s+(\S+)$/m.exec(stdout)?.[1]
      }, 30_000, 'the banner')
      assert.equal((await fetch(`${url}/health`)).status, 200)
      const ready = await fetch(`${url}/ready`)
      assert.equal(ready.status, 200)
      assert.equal((await ready.json() as { status: string }).status, 'ready')
      const metrics = await (await fetch(`${url}/metrics`)).text()
      assert.match(metrics, /^didcomm_mesh_mailbox_messages 0$/m)
      assert.match(metrics, /^libp2p_/m)
      child.kill('SIGTERM')
      assert.equal(await exitOf(child, 20_000), 0, stderr)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})
