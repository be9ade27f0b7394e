/**
 * DIDCOMM_MESH_KEY_PASSPHRASE: node-key.json is kept encrypted (no private key in it), 0600; the node
 * refuses to start without the passphrase or with a wrong one (exit 2, saying which variable), keeps
 * its identity with the right one, and encrypts an existing plaintext key file in place.
 * DIDCOMM_MESH_NODE_KEY gives the file's content instead of the file.
 */
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { field, run } from '../helpers/cli.ts'
import { tempDir } from '../helpers/node.ts'

const PASSPHRASE = 'correct horse battery staple'

async function id (dataDir: string, env: Record<string, string> = {}): Promise<{ code: number | null, did?: string, stderr: string }> {
  const result = await run(['id', '--data-dir', dataDir], 30_000, env)
  return { code: result.code, did: field(result.stdout, 'mediator DID'), stderr: result.stderr }
}

describe('node key passphrase', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  before(async () => { dir = await tempDir() })
  after(async () => { await dir.remove() })

  it('seals the key file, and opens it only with the passphrase', async () => {
    const dataDir = join(dir.path, 'sealed')
    const first = await id(dataDir, { DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })
    assert.equal(first.code, 0, first.stderr)
    const file = await readFile(join(dataDir, 'node-key.json'), 'utf8')
    assert.ok(JSON.parse(file).encrypted !== undefined, 'the file holds the sealed form')
    assert.doesNotMatch(file, /"d"|keyAgreement|libp2p/, 'no private key or key name in the clear')
    assert.equal((await stat(join(dataDir, 'node-key.json'))).mode & 0o777, 0o600)

    const without = await id(dataDir)
    assert.equal(without.code, 2)
    assert.match(without.stderr, /encrypted: set DIDCOMM_MESH_KEY_PASSPHRASE/)
    const wrong = await id(dataDir, { DIDCOMM_MESH_KEY_PASSPHRASE: 'wrong' })
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /wrong passphrase/)
    const again = await id(dataDir, { DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.did, first.did, 'same keys, same DID')
  })

  it('encrypts an existing plaintext key file in place, keeping the identity', async () => {
    const dataDir = join(dir.path, 'upgraded')
    const plain = await id(dataDir)
    assert.equal(plain.code, 0, plain.stderr)
    assert.match(await readFile(join(dataDir, 'node-key.json'), 'utf8'), /"d"/)
    const sealed = await id(dataDir, { DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })
    assert.equal(sealed.did, plain.did)
    assert.doesNotMatch(await readFile(join(dataDir, 'node-key.json'), 'utf8'), /"d"/)
    assert.equal((await id(dataDir)).code, 2, 'from now on the passphrase is needed')
  })
  it('DIDCOMM_MESH_NODE_KEY gives the key file\'s content instead (sealed or not): same identity, no file read or written', async () => {
    const source = join(dir.path, 'source')
    const original = await id(source)
    const content = await readFile(join(source, 'node-key.json'), 'utf8')
    const elsewhere = join(dir.path, 'replica')
    const given = await id(elsewhere, { DIDCOMM_MESH_NODE_KEY: content })
    assert.equal(given.code, 0, given.stderr)
    assert.equal(given.did, original.did, 'the same keys make the same DID')
    await assert.rejects(stat(join(elsewhere, 'node-key.json')), 'no key file written')

    const sealedDir = join(dir.path, 'sealed-source')
    await id(sealedDir, { DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })
    const sealed = await readFile(join(sealedDir, 'node-key.json'), 'utf8')
    const opened = await id(join(dir.path, 'sealed-replica'), { DIDCOMM_MESH_NODE_KEY: sealed, DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })
    assert.equal(opened.code, 0, opened.stderr)
    assert.equal(opened.did, (await id(sealedDir, { DIDCOMM_MESH_KEY_PASSPHRASE: PASSPHRASE })).did)
    assert.equal((await id(join(dir.path, 'x'), { DIDCOMM_MESH_NODE_KEY: sealed })).code, 2, 'sealed without the passphrase')

    for (const junk of ['{"not":"keys"}', '123', 'not json']) {
      const garbage = await id(join(dir.path, 'garbage'), { DIDCOMM_MESH_NODE_KEY: junk })
      assert.equal(garbage.code, 2, junk)
      assert.match(garbage.stderr, /DIDCOMM_MESH_NODE_KEY is not the content of a node-key.json/)
    }
  })
})
