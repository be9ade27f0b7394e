import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { metric, parseMetrics } from '../../bench/lib/node-metrics.ts'
import { soakTrend, trendLine } from '../../bench/lib/soak-report.ts'
import type { SoakSample } from '../../bench/lib/soak-report.ts'
import { leastSquaresSlope } from '../../bench/lib/stats.ts'

describe('the soak run\'s figures', () => {
  it('fits an exact line with no error, and a noisy one with the slope inside its error', () => {
    const exact = leastSquaresSlope([[0, 1], [1, 3], [2, 5], [3, 7]])
    assert.equal(exact.slope, 2)
    assert.equal(exact.standardError, 0)
    const noisy = leastSquaresSlope([[0, 10], [1, 12], [2, 9], [3, 11], [4, 10]])
    assert.ok(Math.abs(noisy.slope) < noisy.standardError * 2, JSON.stringify(noisy))
  })

  it('reports growth in MB per hour over the samples after the warm-up, and says which were skipped', () => {
    const sample = (minute: number, rssMb: number, heapUsedMb: number): SoakSample => ({
      minute, rssMb, heapUsedMb, heapSizeMb: 64, threadsHeapMb: 8, externalMb: 5, eventLoopP99Ms: 11, forwardP50Ms: 2, forwardP99Ms: 9, accepted: 100, forwardsPerS: 100, pickedUp: 100, mailbox: 0, nodeCpuPct: 40, loadCpuPct: 50, packWaitMs: 0, loadAverage: 1
    })
    // The warm-up sample jumps; after it RSS grows 1 MB a minute and heap stays flat.
    const samples = [sample(1, 100, 40), sample(2, 150, 50), sample(3, 151, 50), sample(4, 152, 50)]
    const trend = soakTrend(samples, 1)
    assert.equal(trend.rssMbPerHour.slope, 60)
    assert.equal(trend.heapMbPerHour.slope, 0)
    assert.equal(trendLine(trend, samples.length), 'slope over samples 2–4 (sample 1 skipped as warm-up; ± one standard error): RSS +60 ± 0 MB/h, heap used +0 ± 0 MB/h')
  })

  it('reads Prometheus text: label sets summed, comments skipped, a missing metric named', () => {
    const scrape = parseMetrics([
      '# HELP didcomm_mesh_nodejs_heap_size_used_bytes Process heap size used',
      '# TYPE didcomm_mesh_nodejs_heap_size_used_bytes gauge',
      'didcomm_mesh_nodejs_heap_size_used_bytes 44708808',
      'didcomm_mesh_messages_total{transport="http",outcome="accepted",code=""} 5',
      'didcomm_mesh_messages_total{transport="ws",outcome="accepted",code=""} 2',
      'didcomm_mesh_nodejs_eventloop_lag_p99_seconds 0.011'
    ].join('\n'))
    assert.equal(metric(scrape, 'didcomm_mesh_nodejs_heap_size_used_bytes'), 44708808)
    assert.equal(metric(scrape, 'didcomm_mesh_messages_total'), 7)
    assert.equal(metric(scrape, 'didcomm_mesh_nodejs_eventloop_lag_p99_seconds'), 0.011)
    assert.throws(() => metric(scrape, 'didcomm_mesh_deliveries_total'), /has no didcomm_mesh_deliveries_total/)
  })
})
