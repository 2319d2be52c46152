import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runSoak } from '../support/fault-soak.js';

/*
 * Issue 7: the soak of bench/soak.ts, scaled down to run in `npm test` (about 20 s): the built
 * sample app as its own process, 10 streams, 200 connections in churn, 5,000 connection cycles,
 * every reconnect resuming with Last-Event-ID and checked to continue exactly (some from the
 * database after persist-and-clear, some abandoned before the answer). At the end the registry
 * has no client and no stream left, the process no more active sockets or timers than at the
 * start, its heap after GC within 8 MiB of where it started (and flat from 10% to 100% of the
 * load), its RSS within 32 MiB of where it was at 10% of the load (160 MiB on Node 22 and later). The
 * Markdown figures are written to artifacts/soak/soak-test.md (git-ignored).
 */

const ARTIFACTS = path.resolve(import.meta.dirname, '../../artifacts/soak');

describe('soak, scaled down (built sample app process)', () => {
  it('5,000 connection cycles over 200 connections: nothing lost, nothing leaked, memory flat', async () => {
    const report = await runSoak({
      streams: 10,
      connections: 200,
      cycles: 5_000,
      streamEvents: 100,
      streamIntervalMs: 50,
      holdMs: [30, 500],
      pauseMs: [0, 200],
      abandonShare: 0.05,
      persistAndClearEveryMs: 300,
      heartbeatMs: 200,
      retentionMs: 1_500,
      heapToleranceMiB: 8,
      // Node 22 and later keep more of what their allocator got under load (RSS levelled off near
      // +100 MiB at 10,000 cycles on Node 24 with the heap flat): a leak shows in the heap checks.
      rssToleranceMiB: Number(process.versions.node.split('.')[0]) >= 22 ? 160 : 32,
      maxDurationMs: 45_000,
      settleMs: 300,
      seed: 7,
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(path.join(ARTIFACTS, 'soak-test.md'), `${report.markdown}\n`);
    expect({ failures: report.failures, figures: report.ok ? '' : report.markdown }).toEqual({
      failures: [],
      figures: '',
    });
    expect(report.cycles).toBe(5_000);
    // The resumes really came from every tier, and the server's own counters agree.
    const catchup = report.serverStats.catchup as Record<string, number>;
    expect(catchup.buffer).toBeGreaterThan(1_000);
    expect(catchup.store).toBeGreaterThan(0);
    expect(catchup.reset).toBe(0);
    expect(report.serverStats.clientsAttached).toBeGreaterThan(4_000);
  }, 60_000);
});
