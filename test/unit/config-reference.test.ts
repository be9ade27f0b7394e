import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { it } from 'node:test'
import { describeOptions } from '../../config/load.ts'
import { REFERENCE_PATH, configurationReference } from '../../config/reference.ts'

it('docs/configuration.md is what the config schema generates (run npm run docs:config after changing it)', async () => {
  const written = await readFile(REFERENCE_PATH, 'utf8')
  assert.equal(written, configurationReference())
  for (const option of describeOptions()) assert.ok(written.includes(`\`--${option.flag}\``), `--${option.flag} is documented`)
})
