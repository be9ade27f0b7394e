/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/ against a running node: both files
 * are schema-valid, every PromQL expression in them reads (balanced, well-formed label matchers and
 * ranges, known functions), every metric they name is on the node's GET /metrics, and they cover
 * what operators watch. No promtool here: the checks are a YAML/JSON schema and a small PromQL reader.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import YAML from 'yaml'
import { z } from 'zod'
import { TestAgent, sendTo } from '../helpers/client.ts'
import { testNodes, waitFor } from '../helpers/node.ts'
import type { TestNode } from '../helpers/node.ts'

const ALERTS = new URL('../../deploy/prometheus/alerts.yml', import.meta.url)
const DASHBOARD = new URL('../../deploy/grafana/didcomm-mesh.json', import.meta.url)

const FUNCTIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'rate', 'irate', 'increase', 'delta', 'deriv', 'predict_linear',
  'histogram_quantile', 'min_over_time', 'max_over_time', 'avg_over_time', 'abs', 'clamp_min', 'clamp_max', 'absent'])
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset'])
// A string, a duration (before a number: 10m is one token), a number, an identifier, a Grafana variable, an operator.
const TOKEN = /\s*("(?:[^"\\]|\\.)*"|(?:\d+(?:ms|s|m|h|d|w|y))+|\d+(?:\.\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|\$[A-Za-z_]+|==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}[\],])/y
const PAIRS: Record<string, string> = { '(': ')', '{': '}', '[': ']' }

function tokens (expr: string): string[] {
  const found: string[] = []
  const text = expr.trimEnd()
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex
    const match = TOKEN.exec(text)
    if (match === null) throw new Error(`unreadable PromQL at "${text.slice(at, at + 20)}" in: ${expr}`)
    found.push(match[1] as string)
  }
  return found
}

/**
 * The metric names a PromQL expression reads. Throws on what Prometheus would refuse and this can
 * see: unbalanced brackets, a malformed label matcher or range, an unknown function.
 */
function metricNames (expr: string): string[] {
  const list = tokens(expr)
  const names: string[] = []
  const open: string[] = []
  for (let i = 0; i < list.length; i++) {
    const token = list[i] as string
    const next = list[i + 1]
    if (token === '{') {
      // name op "value" (, name op "value")* [,] }
      let j = i + 1
      while (list[j] !== '}') {
        if (!/^[A-Za-z_]\w*$/.test(list[j] ?? '') || !['=', '!=', '=~', '!~'].includes(list[j + 1] ?? '') || !(list[j + 2] ?? '').startsWith('"')) throw new Error(`bad label matcher in: ${expr}`)
        j += 3
        if (list[j] === ',') j++
        else if (list[j] !== '}') throw new Error(`bad label matchers in: ${expr}`)
      }
      i = j
    } else if (token === '[') {
      if (!/^((\d+(ms|s|m|h|d|w|y))+|\$__rate_interval|\$__interval)$/.test(next ?? '') || list[i + 2] !== ']') throw new Error(`bad range in: ${expr}`)
      i += 2
    } else if (token in PAIRS) {
      open.push(PAIRS[token] as string)
    } else if (token === ')' || token === '}' || token === ']') {
      if (open.pop() !== token) throw new Error(`unbalanced "${token}" in: ${expr}`)
    } else if (/^[A-Za-z_:]/.test(token)) {
      if (GROUPING.has(token)) {
        if (next !== '(') throw new Error(`"${token}" without a label list in: ${expr}`)
        const close = list.indexOf(')', i)
        if (!list.slice(i + 2, close).every((t, k) => k % 2 === 0 ? /^[A-Za-z_]\w*$/.test(t) : t === ',')) throw new Error(`bad label list in: ${expr}`)
        i = close
      } else if (FUNCTIONS.has(token)) {
        if (next !== '(' && !GROUPING.has(next ?? '')) throw new Error(`function ${token} without arguments in: ${expr}`)
      } else if (next === '(') {
        throw new Error(`unknown function ${token} in: ${expr}`)
      } else if (!KEYWORDS.has(token)) {
        names.push(token)
      }
    }
  }
  if (open.length > 0) throw new Error(`unclosed brackets in: ${expr}`)
  return names
}

const duration = z.string().regex(/^(\d+(ms|s|m|h|d|w|y))+$/)
const alertRule = z.strictObject({
  alert: z.string().regex(/^[A-Z][A-Za-z]+$/),
  expr: z.string().min(1),
  for: duration.optional(),
  labels: z.strictObject({ severity: z.enum(['critical', 'warning']) }),
  annotations: z.strictObject({ summary: z.string().min(1), description: z.string().min(1) })
})
const ruleFile = z.strictObject({
  groups: z.array(z.strictObject({ name: z.string().min(1), interval: duration.optional(), rules: z.array(alertRule).min(1) })).min(1)
})

const target = z.object({ refId: z.string(), expr: z.string().min(1), legendFormat: z.string().optional() })
const panel = z.object({
  id: z.int().positive(),
  type: z.enum(['row', 'stat', 'timeseries', 'gauge', 'table']),
  title: z.string().min(1),
  gridPos: z.object({ x: z.int().min(0), y: z.int().min(0), w: z.int().min(1), h: z.int().min(1) }).refine(p => p.x + p.w <= 24, 'a panel within the 24 columns'),
  targets: z.array(target).optional()
})
const dashboard = z.object({
  title: z.string(),
  uid: z.string().regex(/^[a-z0-9-]{1,40}$/),
  schemaVersion: z.int().min(30),
  panels: z.array(panel).min(1),
  templating: z.object({ list: z.array(z.object({ name: z.string(), type: z.string(), query: z.unknown() })) })
})

/** Metric families on a scrape, by their `# TYPE` lines (a histogram's series are name_bucket, _sum, _count). */
function families (text: string): Map<string, string> {
  return new Map(text.split('\n').filter(line => line.startsWith('# TYPE ')).map(line => {
    const [name = '', type = ''] = line.slice('# TYPE '.length).split(' ')
    return [name, type]
  }))
}

function onScrape (name: string, scraped: Map<string, string>): boolean {
  if (scraped.has(name)) return true
  const base = name.replace(/_(bucket|sum|count)$/, '')
  return base !== name && ['histogram', 'summary'].includes(scraped.get(base) ?? '') && !(name.endsWith('_bucket') && scraped.get(base) === 'summary')
}

/** `up` is not on a node's scrape: Prometheus writes it for every target it scrapes. */
const MADE_BY_PROMETHEUS = new Set(['up'])

describe('the dashboard and the alert rules', () => {
  const nodes = testNodes('didcomm-mesh-monitoring-')
  let node: TestNode
  let scraped: Map<string, string>
  let scrapeText: string

  before(async () => {
    node = await nodes.start()
    // A message queued, so the mailbox metrics have samples too.
    const { pairwise } = await TestAgent.mediatedWallet(node)
    await sendTo(node, pairwise, 'for the dashboard')
    scrapeText = await (await fetch(`${node.url}/metrics`)).text()
    scraped = families(scrapeText)
  })
  after(async () => { await nodes.stopAll() })

  it('the PromQL reader finds metric names and refuses what Prometheus would', () => {
    assert.deepEqual(metricNames('sum by (instance, le) (rate(a_bucket{instance=~"$instance",le="0.9"}[5m])) / on (instance) b > bool 0.5 and c offset 1h'), ['a_bucket', 'b', 'c'])
    assert.deepEqual(metricNames('predict_linear(x[6h], 24 * 3600) < 0 or y{a!="b",} == 1'), ['x', 'y'])
    for (const bad of ['rate(x[5m]', 'x{a="b"', 'x{a=b}', 'x[5 m]', 'x[5m', 'rates(x[5m])', 'sum by instance (x)', 'x )']) {
      assert.throws(() => metricNames(bad), Error, bad)
    }
  })

  it('the alert rules are a valid Prometheus rule file, and each names metrics the node exports', async () => {
    const rules = ruleFile.parse(YAML.parse(await readFile(ALERTS, 'utf8')))
    const alerts = rules.groups.flatMap(group => group.rules)
    assert.deepEqual(new Set(alerts.map(rule => rule.alert)), new Set(['DidcommMeshNodeDown', 'DidcommMeshNotReady', 'DidcommMeshOutboxGrowing', 'DidcommMeshRelayFailures',
      'DidcommMeshMailboxNearQuota', 'DidcommMeshMailboxFull', 'DidcommMeshDiskFilling', 'DidcommMeshEventLoopDelay']))
    for (const rule of alerts) {
      const names = metricNames(rule.expr)
      assert.ok(names.length > 0, rule.alert)
      for (const name of names) assert.ok(MADE_BY_PROMETHEUS.has(name) || onScrape(name, scraped), `${rule.alert}: ${name} is not on /metrics`)
    }
  })

  it('the dashboard is a valid Grafana dashboard over metrics the node exports, covering what operators watch', async () => {
    const board = dashboard.parse(JSON.parse(await readFile(DASHBOARD, 'utf8')))
    const ids = board.panels.map(p => p.id)
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
    const exprs = board.panels.flatMap(p => p.targets?.map(t => t.expr) ?? [])
    const named = new Set(exprs.flatMap(metricNames))
    // Grafana's label_values(metric, label) lists a variable's values.
    for (const variable of board.templating.list) {
      if (variable.type !== 'query') continue
      const metric = /^label_values\((\w+), *\w+\)$/.exec((variable.query as { query: string }).query)?.[1]
      assert.ok(metric !== undefined, `variable ${variable.name} lists label values of a metric`)
      named.add(metric)
    }
    for (const name of named) assert.ok(onScrape(name, scraped), `${name} is not on /metrics`)
    for (const watched of ['didcomm_mesh_messages_total', 'didcomm_mesh_mailbox_messages', 'didcomm_mesh_mailbox_bytes', 'didcomm_mesh_deliveries_total',
      'didcomm_mesh_relays_total', 'didcomm_mesh_relay_duration_seconds_bucket', 'didcomm_mesh_outbox_depth', 'didcomm_mesh_route_failures_total',
      'didcomm_mesh_live_sessions', 'didcomm_mesh_peers', 'didcomm_mesh_nodejs_eventloop_lag_p99_seconds', 'didcomm_mesh_process_resident_memory_bytes']) {
      assert.ok(named.has(watched), `the dashboard shows ${watched}`)
    }
  })

  it('the metrics added for them move: readiness, the data dir disk, and how full a mailbox is as a message is queued', () => {
    const sample = (series: string): number => Number(/ (\S+)$/.exec(scrapeText.split('\n').find(line => line.startsWith(`${series} `)) ?? '')?.[1])
    assert.equal(sample('didcomm_mesh_ready'), 1)
    assert.ok(sample('didcomm_mesh_data_dir_available_bytes') > 0)
    assert.ok(sample('didcomm_mesh_data_dir_size_bytes') >= sample('didcomm_mesh_data_dir_available_bytes'))
    assert.equal(sample('didcomm_mesh_mailbox_fill_ratio_count'), 1)
    assert.equal(sample('didcomm_mesh_mailbox_fill_ratio_bucket{le="0.1"}'), 1, 'one small message in an empty mailbox')
  })

  it("the unpack threads' heaps, which the main thread's heap figures leave out, are on the scrape once a thread runs", async () => {
    const { pairwise } = await TestAgent.mediatedWallet(node)
    const threadHeap = async (): Promise<number | undefined> => {
      // A forward keeps the thread at work (the first one starts it, and is opened on the main thread until it has loaded).
      await sendTo(node, pairwise, 'for the unpack thread')
      const text = await (await fetch(`${node.url}/metrics`)).text()
      const size = Number(/^didcomm_mesh_unpack_threads_heap_size_bytes (\S+)$/m.exec(text)?.[1])
      const used = Number(/^didcomm_mesh_unpack_threads_heap_used_bytes (\S+)$/m.exec(text)?.[1])
      return size > 0 && used > 0 && used <= size ? size : undefined
    }
    const size = await waitFor(threadHeap, 20_000, 'the unpack threads\' heap on /metrics')
    assert.ok(size > 1024 * 1024, `a V8 isolate holds at least a megabyte (${size} bytes)`)
  })
})
