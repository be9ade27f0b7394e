import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname } from 'node:path'
import { z } from 'zod'
import { configSchema, type Config } from './schema.ts'

const ENV_PREFIX = 'DIDCOMM_MESH_'
export const CONFIG_ENV = `${ENV_PREFIX}CONFIG`

export class ConfigError extends Error {
  override name = 'ConfigError'
  /** Schema key of the offending option, or 'config' for problems with the file itself. */
  option: string

  constructor(message: string, option: string) {
    super(message)
    this.option = option
  }
}

export interface ConfigSources {
  /** Config file path; overridden by env DIDCOMM_MESH_CONFIG and flags.config. */
  file?: string
  /** Usually process.env; nothing is read from the real environment unless passed here. */
  env?: Record<string, string | undefined>
  /** Parsed CLI options keyed by schema key, as commander produces them. */
  flags?: Record<string, unknown>
}

export interface OptionInfo {
  key: string
  flag: string
  env: string
  description: string
  defaultValue: unknown
  /** Human-readable type, e.g. 'an integer from 0 to 65535'. */
  type: string
  /** How a string from env or a flag is converted before validation. */
  kind: 'string' | 'integer' | 'boolean' | 'array'
}

interface JsonSchemaProperty {
  type: OptionInfo['kind']
  description?: string
  default?: unknown
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  enum?: unknown[]
  format?: string
  items?: JsonSchemaProperty
}

export function describeOptions(): OptionInfo[] {
  const { properties } = z.toJSONSchema(configSchema) as { properties: Record<string, JsonSchemaProperty> }
  return Object.entries(properties).map(([key, property]) => ({
    key,
    flag: key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    env: ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase(),
    description: property.description ?? '',
    defaultValue: property.default,
    type: describeType(property),
    kind: property.type
  }))
}

function describeType(property: JsonSchemaProperty): string {
  if (property.enum) return `one of ${property.enum.join(', ')}`
  // JSON Schema cannot carry z.url()'s protocol restriction; the only URL option (publicUrl) is http(s).
  if (property.format === 'uri') return 'an http(s) URL'
  switch (property.type) {
    case 'integer':
      // z.int() reports the safe-integer limit as its maximum when none was set.
      return property.maximum !== undefined && property.maximum < Number.MAX_SAFE_INTEGER
        ? `an integer from ${property.minimum} to ${property.maximum}`
        : `an integer of at least ${property.minimum}`
    case 'boolean':
      return 'a boolean (true/false/1/0/yes/no)'
    case 'array':
      return property.items?.type === 'integer' ? `a list of ${describeType(property.items).replace(/^an integer/, 'integers')}` : 'a list of strings'
    case 'string':
      if (property.maxLength !== undefined) return `a string of ${property.minLength ?? 0} to ${property.maxLength} characters`
      if (property.minLength !== undefined && property.minLength > 1) return `a string of at least ${property.minLength} characters`
      return property.minLength ? 'a non-empty string' : 'a string'
  }
}

const BOOLEANS = new Map([['true', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]])

/** Env vars and flags arrive as strings. Text that does not convert cleanly is kept, so the schema rejects it. */
function fromString(kind: OptionInfo['kind'], text: string): unknown {
  switch (kind) {
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : text
    case 'boolean':
      return BOOLEANS.get(text.toLowerCase()) ?? text
    case 'array':
      return text.split(',').map((item) => item.trim()).filter((item) => item !== '')
    case 'string':
      return text
  }
}

const show = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value))

/** Precedence: schema defaults < config file < env < flags. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {}
  const flags = sources.flags ?? {}
  const path = typeof flags.config === 'string' ? flags.config : (env[CONFIG_ENV] ?? sources.file)
  const file = path === undefined ? {} : readConfigFile(path)

  const input: Record<string, unknown> = {}
  for (const option of describeOptions()) {
    const raw = [flags[option.key], env[option.env], file[option.key]].find((value) => value !== undefined)
    if (raw === undefined) continue
    const value = typeof raw === 'string' ? fromString(option.kind, raw) : raw
    // Checked per option so the error can name the flag and env var to fix.
    if (!configSchema.shape[option.key as keyof Config].safeParse(value).success) {
      throw new ConfigError(
        `invalid value for --${option.flag} (${option.env}): expected ${option.type}, got ${show(raw)}`,
        option.key
      )
    }
    input[option.key] = value
  }
  return configSchema.parse(input)
}

/** The YAML parser, loaded only for a YAML config file (synchronously: loadConfig is). */
function parseYaml(text: string): unknown {
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml')
  return YAML.parse(text)
}

const PARSERS: Record<string, (text: string) => unknown> = { '.json': JSON.parse, '.yaml': parseYaml, '.yml': parseYaml }

/** Reads a JSON or YAML config file keyed by schema key; values are validated by loadConfig. */
export function readConfigFile(path: string): Record<string, unknown> {
  const parse = PARSERS[extname(path).toLowerCase()]
  if (!parse) throw new ConfigError(`config file ${path} must end in .json, .yaml or .yml`, 'config')
  let data: unknown
  try {
    data = parse(readFileSync(path, 'utf8')) ?? {} // an empty YAML file parses to null
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, 'config')
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must contain an object of options`, 'config')
  }
  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(configSchema.shape, key)) throw new ConfigError(`unknown option '${key}' in config file ${path}`, key)
  }
  return data as Record<string, unknown>
}
