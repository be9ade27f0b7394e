import type { Command } from 'commander'
import { CONFIG_ENV, describeOptions } from './load.ts'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

function formatDefault(value: unknown): string {
  const shown = Array.isArray(value) ? value.join(',') : value === undefined ? '' : String(value)
  return shown === '' ? '' : `, default ${shown}`
}

/**
 * Registers a flag for every config option. No commander defaults are set, so an
 * absent flag stays undefined and loadConfig falls back to env, file and schema default.
 */
export function addConfigOptions(command: Command): Command {
  command.option('-c, --config <file>', `JSON or YAML config file (env ${CONFIG_ENV})`)
  for (const option of describeOptions()) {
    const help = `${option.description} (env ${option.env}${formatDefault(option.defaultValue)})`
    if (option.kind === 'boolean') command.option(`--${option.flag} [bool]`, help)
    else if (option.kind === 'array') command.option(`--${option.flag} <value>`, help, collect)
    else command.option(`--${option.flag} <value>`, help)
  }
  return command
}
