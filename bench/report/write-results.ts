import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './chart-svg.js';
import { renderMarkdown, type ReportInput } from './markdown.js';
import type { RunRecord } from './summary.js';

const BENCH = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(BENCH, 'results');
const DOCS = path.resolve(BENCH, '../docs');

/**
 * Writes bench/results/<timestamp>.json (every run), report.md and chart.svg; with publish, also
 * docs/benchmarks.md and docs/bench-chart.svg for the README. Returns the report.
 */
export function writeResults(
  input: Omit<ReportInput, 'chart'>,
  runs: RunRecord[],
  options: { publish: boolean; extra?: string },
): string {
  mkdirSync(RESULTS, { recursive: true });
  const stamp = input.startedAt.toISOString().replace(/[:.]/g, '-');
  const json = { ...input, runs };
  writeFileSync(path.join(RESULTS, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const chart = renderChart(input.summaries, input.baseline, input.scenarios, input.repetitions);
  const extra = options.extra ? `\n## Multi-instance\n\n${options.extra}` : '';
  const report = renderMarkdown({ ...input, chart: 'chart.svg' }) + extra;
  writeFileSync(path.join(RESULTS, 'report.md'), report);
  writeFileSync(path.join(RESULTS, 'chart.svg'), chart);
  if (options.publish) {
    mkdirSync(DOCS, { recursive: true });
    writeFileSync(path.join(DOCS, 'benchmarks.md'), renderMarkdown({ ...input, chart: 'bench-chart.svg' }) + extra);
    copyFileSync(path.join(RESULTS, 'chart.svg'), path.join(DOCS, 'bench-chart.svg'));
  }
  return report;
}
