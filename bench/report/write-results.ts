import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import prettier from 'prettier';
import { renderChart } from './chart-svg.js';
import { renderMarkdown, type ReportInput } from './markdown.js';
import type { RunRecord } from './summary.js';

const BENCH = path.resolve(import.meta.dirname, '..');
/** Where results go unless --out names another folder. */
export const RESULTS = path.join(BENCH, 'results');
const DOCS = path.resolve(BENCH, '../docs');

/**
 * Writes <out>/<timestamp>.json (every run), report.md and chart.svg (out: bench/results unless
 * given); with publish, also docs/benchmarks.md and docs/bench-chart.svg for the README. Returns
 * the report.
 */
export async function writeResults(
  input: Omit<ReportInput, 'chart'>,
  runs: RunRecord[],
  options: { publish: boolean; extra?: string; out?: string },
): Promise<string> {
  const out = options.out ?? RESULTS;
  mkdirSync(out, { recursive: true });
  const stamp = input.startedAt.toISOString().replace(/[:.]/g, '-');
  const json = { ...input, runs };
  writeFileSync(path.join(out, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const chart = renderChart(input.summaries, input.baseline, input.scenarios, input.repetitions);
  const extra = options.extra ? `\n## Multi-instance\n\n${options.extra}` : '';
  const report = renderMarkdown({ ...input, chart: 'chart.svg' }) + extra;
  writeFileSync(path.join(out, 'report.md'), report);
  writeFileSync(path.join(out, 'chart.svg'), chart);
  if (options.publish) {
    mkdirSync(DOCS, { recursive: true });
    const published = path.join(DOCS, 'benchmarks.md');
    // Formatted as `npm run lint` checks it, so that a published run is committed as it is.
    const markdown = renderMarkdown({ ...input, chart: 'bench-chart.svg' }) + extra;
    const config = await prettier.resolveConfig(published);
    writeFileSync(published, await prettier.format(markdown, { ...config, filepath: published }));
    copyFileSync(path.join(out, 'chart.svg'), path.join(DOCS, 'bench-chart.svg'));
  }
  return report;
}
