import { describe, expect, test } from '@jest/globals';
import { renderMarkdown, type ReportInput } from '../../bench/report/markdown.js';
import { comparePairs, signTest, type PairSummary } from '../../bench/report/pairs.js';
import { parseOptions } from '../../bench/run-options.js';
import type { RunRecord } from '../../bench/report/summary.js';

/*
 * Issue 6 asks that plain `@Sse()` be no slower than the hand-written route on any figure. The
 * report compares the two directly, repetition by repetition; this checks the arithmetic and the
 * direction of "better" on figures of both kinds.
 */

function run(target: string, repetition: number, scenario: string, figures: Record<string, number>): RunRecord {
  const anomalies = { gaps: 0, duplicates: 0, missing: 0 };
  return { repetition, scenario, target, seconds: 1, loadAverage: 0, result: { figures, anomalies } };
}

const PLAIN = 'meridian-plain-express';
const HAND_WRITTEN = 'nest-subject-express';

describe('comparePairs()', () => {
  test('divides the figures of the same repetition, counts who did better each way, and tests the split', () => {
    const runs = [
      // Throughput: higher is better. Plain ahead in 2 of 3.
      run(PLAIN, 0, 'throughput', { deliveriesPerSecond: 110 }),
      run(HAND_WRITTEN, 0, 'throughput', { deliveriesPerSecond: 100 }),
      run(PLAIN, 1, 'throughput', { deliveriesPerSecond: 90 }),
      run(HAND_WRITTEN, 1, 'throughput', { deliveriesPerSecond: 100 }),
      run(PLAIN, 2, 'throughput', { deliveriesPerSecond: 150 }),
      run(HAND_WRITTEN, 2, 'throughput', { deliveriesPerSecond: 100 }),
      // Connect time: lower is better. Plain slower in all 9 runs (the last 6 are idle-only rounds),
      // except one tie.
      ...Array.from({ length: 9 }, (_, repetition) => [
        run(PLAIN, repetition, 'idle-memory', { connectMs: repetition === 4 ? 1000 : 1100 }),
        run(HAND_WRITTEN, repetition, 'idle-memory', { connectMs: 1000 }),
      ]).flat(),
      // A repetition the hand-written route has no figure for is left out, not counted as a loss...
      run(PLAIN, 9, 'idle-memory', { connectMs: 5 }),
      // Nor one where it has nothing to divide by.
      run(PLAIN, 10, 'idle-memory', { connectMs: 5 }),
      run(HAND_WRITTEN, 10, 'idle-memory', { connectMs: 0 }),
      // Nor one where plain has none.
      run(HAND_WRITTEN, 11, 'idle-memory', { connectMs: 1000 }),
      run('raw-node', 0, 'throughput', { deliveriesPerSecond: 1000 }),
    ];
    const [pair, ...others] = comparePairs(runs);
    expect(others).toHaveLength(0);
    expect(pair.target).toBe(PLAIN);
    expect(pair.reference).toBe(HAND_WRITTEN);
    expect(pair.figures.deliveriesPerSecond).toEqual({
      ratio: { median: 1.1, min: 0.9, max: 1.5, count: 3 },
      better: 2,
      worse: 1,
      p: 1,
    });
    const connect = pair.figures.connectMs;
    expect(connect.ratio.count).toBe(9);
    expect(connect.ratio.median).toBeCloseTo(1.1);
    expect(connect.ratio.min).toBe(1);
    expect({ better: connect.better, worse: connect.worse }).toEqual({ better: 0, worse: 8 });
    expect(connect.p).toBeCloseTo(2 / 2 ** 8);
    // Figures neither has are not made up.
    expect(Object.keys(pair.figures).sort()).toEqual(['connectMs', 'deliveriesPerSecond']);
  });

  test('a pair runs only when both of its targets did', () => {
    expect(comparePairs([run(PLAIN, 0, 'throughput', { deliveriesPerSecond: 1 })])).toEqual([]);
  });
});

describe('signTest()', () => {
  test('is the two-sided binomial tail of the smaller side', () => {
    expect(signTest(3, 0)).toBe(0.25);
    expect(signTest(0, 10)).toBeCloseTo(2 / 1024);
    expect(signTest(1, 8)).toBeCloseTo((2 * (1 + 9)) / 512);
    // Yesterday's connect pairs: slower in 39 of 60.
    expect(signTest(21, 39)).toBeCloseTo(0.0273, 3);
    expect(signTest(5, 5)).toBe(1);
    expect(signTest(0, 0)).toBe(1);
  });
});

/** A report of one idle-memory repetition with these pairs. */
function reportInput(pairs: PairSummary[], runningRounds: number): ReportInput {
  return {
    summaries: [],
    pairs,
    baseline: 'raw-node',
    machine: { cpu: 'cpu', cores: 2, memoryGiB: 24, os: 'os', node: 'v20', loadAverage: 0, packages: {} },
    sizes: parseOptions([]).sizes,
    repetitions: 1,
    idleRuns: 1,
    runningRounds,
    scenarios: ['idle-memory'],
    absent: [],
    startedAt: new Date(0),
    highestLoad: 0,
    minutes: 1,
    chart: 'chart.svg',
  };
}

describe('the report', () => {
  test('shows the comparison under its own heading, with the split and p', () => {
    const runs = [
      run(PLAIN, 0, 'idle-memory', { connectMs: 900 }),
      run(HAND_WRITTEN, 0, 'idle-memory', { connectMs: 1000 }),
    ];
    const input = reportInput(comparePairs(runs), 0);
    const markdown = renderMarkdown(input);
    expect(markdown).toContain('## Plain `@Sse()` against hand-written `@Sse()` + `Subject`');
    // Only the figures the pair has get a column.
    expect(markdown).toContain('| targets | connect all |');
    expect(markdown).toMatch(
      /\| meridian-plain-express \/ nest-subject-express \| 0\.90x \(0\.90x – 0\.90x\), 1 better \/ 0 worse, p 1\.00 \|/,
    );
    expect(markdown).not.toContain('running (the pairs above');
    expect(renderMarkdown({ ...input, pairs: [] })).not.toContain('## Plain `@Sse()`');
  });

  test('adds the rounds on running servers as columns of their own, and says how they were run', () => {
    const runs = [
      run(PLAIN, 0, 'idle-memory', { connectMs: 900 }),
      run(HAND_WRITTEN, 0, 'idle-memory', { connectMs: 1000 }),
      ...[0, 1].flatMap((round) => [
        run(PLAIN, round, 'running-connect', { runningConnectMs: 500, runningCpuPerConnection: 110 }),
        run(HAND_WRITTEN, round, 'running-connect', { runningConnectMs: 400, runningCpuPerConnection: 100 }),
      ]),
    ];
    const pairs = comparePairs(runs);
    // The rounds do not mix with the idle-memory run of the same index.
    expect(pairs[0].figures.connectMs.ratio.count).toBe(1);
    expect(pairs[0].figures.runningCpuPerConnection.ratio.median).toBeCloseTo(1.1);
    const markdown = renderMarkdown(reportInput(pairs, 2));
    expect(markdown).toContain('| targets | connect all | connect all, running | server CPU/conn, running |');
    expect(markdown).toMatch(/\| 1\.25x \(1\.25x – 1\.25x\), 0 better \/ 2 worse, p 0\.50 \| 1\.10x/);
    expect(markdown).toContain('- running (the pairs above, with idle memory): both servers of a pair start once');
    expect(markdown).toContain('rounds alternate between them, 2 each');
  });
});
