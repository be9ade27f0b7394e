/**
 * `npm run crash-test [-- --cycles N --messages M --store postgres]`: the crash test at full length
 * (test/crash/harness.ts), on LevelDB or on PostgreSQL; prints the report as JSON and exits 1 if an
 * acknowledged message was lost or a removed one came back.
 */
import { parseArgs } from 'node:util'
import { CRASH_STORES, runCrashTest } from './harness.ts'
import type { CrashStore } from './harness.ts'

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '40' }, messages: { type: 'string', default: '3000' }, senders: { type: 'string', default: '8' }, store: { type: 'string', default: 'level' } } })
const store = values.store as CrashStore
if (!CRASH_STORES.includes(store)) {
  console.error(`--store must be one of ${CRASH_STORES.join(', ')}`)
  process.exit(2)
}
const report = await runCrashTest({
  cycles: Number(values.cycles),
  messages: Number(values.messages),
  senders: Number(values.senders),
  killEveryMs: [200, 1500],
  store,
  log: line => { console.error(line) }
})
console.log(JSON.stringify(report, null, 2))
process.exit(report.lost === 0 && report.deliveredAfterRemoval === 0 && report.sigterm.exitCode === 0 ? 0 : 1)
