import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { it } from 'node:test'

const root = pathToFileURL(realpathSync(fileURLToPath(new URL('../../', import.meta.url))) + '/').href

// A fresh process, so nothing this test runner loaded counts: it records every module the entry
// point's imports resolve to (type-only imports are erased, so they load nothing).
const TRACE = `
import { registerHooks } from 'node:module'
const loaded = new Set()
registerHooks({ resolve (specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r } })
await import(process.argv[1])
console.log(JSON.stringify([...loaded]))
`

async function modulesLoadedBy (entry: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '--eval', TRACE, new URL(entry, root).href])
  return JSON.parse(stdout) as string[]
}

/** What a wallet using the client must not carry: the node's store, its libp2p stack, node-only code. */
const NODE_ONLY = [/\/node_modules\/(level|classic-level|libp2p|@libp2p\/[^/]+)\//, new RegExp(`^${root}(node|storage)/`)]

// The CLI loads client/agent.ts only when an agent command runs (the node's CLI shares its entry
// point): its own imports are checked here, the agent's through client/index.ts.
for (const [entry, seen] of [['client/index.ts', '/client/agent.ts'], ['client/cli.ts', '/client/cli.ts']] as const) {
  it(`${entry} loads no LevelDB, libp2p or node-only module`, async () => {
    const loaded = await modulesLoadedBy(entry)
    assert.ok(loaded.some(url => url.endsWith(seen)), 'the trace saw the client load')
    assert.deepEqual(loaded.filter(url => NODE_ONLY.some(pattern => pattern.test(url))), [])
  })
}
