/**
 * The node's V8 heap flags are set wherever it is started (docs/operating.md, Memory): `npm start`
 * (the one source, read by bench/lib/cli-process.ts), the CLI's shebang, the image's NODE_OPTIONS.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { NODE_FLAGS } from '../../bench/lib/cli-process.ts'

const read = async (path: string): Promise<string> => await readFile(new URL(`../../${path}`, import.meta.url), 'utf8')

describe('heap flags', () => {
  it('npm start, the CLI shebang and the image set the same ones', async () => {
    assert.ok(NODE_FLAGS.some(flag => flag.startsWith('--max-semi-space-size=')), `npm start's flags: ${NODE_FLAGS.join(' ')}`)
    const shebang = (await read('node/cli.ts')).split('\n')[0]
    assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`)
    const nodeOptions = /^\s+NODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(await read('Dockerfile'))
    assert.equal(nodeOptions?.[1] ?? nodeOptions?.[2], NODE_FLAGS.join(' '))
  })
})
