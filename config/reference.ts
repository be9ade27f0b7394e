/**
 * docs/configuration.md, generated from the config schema so the reference cannot drift from it:
 * `npm run docs:config` writes it, test/unit/config-reference.test.ts checks it is current.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { KEY_PASSPHRASE_ENV, NODE_KEY_ENV } from '../storage/node-key-file.ts'
import { CONFIG_ENV, describeOptions } from './load.ts'

export const REFERENCE_PATH = fileURLToPath(new URL('../docs/configuration.md', import.meta.url))

function shown (value: unknown): string {
  if (value === undefined) return 'none'
  if (Array.isArray(value)) return value.length === 0 ? 'none' : `\`${value.join(',')}\``
  return `\`${String(value)}\``
}

const cell = (text: string): string => text.replaceAll('|', '\\|')

export function configurationReference (): string {
  const rows = describeOptions().map(option =>
    `| \`--${option.flag}\` | \`${option.env}\` | \`${option.key}\` | ${shown(option.defaultValue)} | ${cell(option.type)} | ${cell(option.description)} |`)
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from config/schema.ts by `npm run docs:config`; do not edit by hand. -->',
    '',
    `Every option can be set as a flag of \`didcomm-mesh start\`, as an environment variable, or in a JSON or YAML file named by \`--config\` or \`${CONFIG_ENV}\` (keys as in the "File key" column). Flags win over the environment, the environment over the file, the file over the defaults. Lists are repeated flags, comma-separated in the environment, arrays in a file. A bad value stops the node with exit code 2, naming the flag and the variable.`,
    '',
    '| Flag | Environment | File key | Default | Type | Meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `\`${KEY_PASSPHRASE_ENV}\` is not an option: it is read from the environment only (a flag would show on the command line), and when set keeps \`node-key.json\` encrypted.`,
    '',
    `\`${NODE_KEY_ENV}\`, also from the environment only, may hold \`node-key.json\`'s content (sealed or not) instead of the file: a secret that replicas of one mediator share. The node then reads no key file and writes none.`,
    ''
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(REFERENCE_PATH, configurationReference())
  console.log(`wrote ${REFERENCE_PATH}`)
}
