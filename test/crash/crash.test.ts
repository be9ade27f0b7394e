/**
 * The crash test, short (test/crash/run.ts runs it long): nodes killed with SIGKILL during ingest,
 * pickup and relay lose no acknowledged forward and never deliver again what the wallet had
 * acknowledged; SIGTERM under load drains and exits 0. On each store: LevelDB, and PostgreSQL.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { runCrashTest } from './harness.ts'

for (const store of ['level', 'postgres'] as const) {
  it(`SIGKILL at random moments loses nothing acknowledged; SIGTERM drains (${store === 'level' ? 'LevelDB' : 'PostgreSQL'})`, { timeout: 240_000 }, async () => {
    const report = await runCrashTest({ cycles: 6, messages: 300, senders: 6, killEveryMs: [300, 900], store })
    assert.ok(report.acknowledged >= 300, `senders retry until every forward is acknowledged: ${JSON.stringify(report)}`)
    assert.equal(report.lost, 0, `acknowledged forwards lost: ${JSON.stringify(report)}`)
    assert.equal(report.deliveredAfterRemoval, 0, `delivered after messages-received: ${JSON.stringify(report)}`)
    assert.equal(report.sigterm.exitCode, 0, `SIGTERM exit: ${JSON.stringify(report)}`)
    assert.equal(report.kills.relayNode + report.kills.homeNode, 6)
  })
}
