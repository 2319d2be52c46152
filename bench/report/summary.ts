import type { Anomalies, ScenarioResult } from '../scenarios/scenario.js';
import { FIGURES } from './figures.js';

/** One scenario on one target in one repetition (each repetition of a target: a fresh server process). */
export interface RunRecord {
  repetition: number;
  scenario: string;
  target: string;
  seconds: number;
  /** 1-minute load average after the run: above the core count, other work shared the machine. */
  loadAverage: number;
  result?: ScenarioResult;
  error?: string;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  count: number;
}

export interface FigureSummary {
  value: Spread;
  /** Ratios to the baseline of the same repetition. */
  ratio: Spread;
}

export interface TargetSummary {
  target: string;
  figures: Record<string, FigureSummary>;
  anomalies: Anomalies;
  errors: string[];
  /** Scenario → why it does not apply. */
  skipped: Record<string, string>;
  /** Scenario → CPU in % of one core, of the load generator and of the server. */
  cpu: Record<string, { loadgen: Spread; server: Spread }>;
  notes: string[];
}

export function spread(values: number[]): Spread {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, count: 0 };
  const middle = finite.length >> 1;
  const median = finite.length % 2 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
  return { median, min: finite[0], max: finite[finite.length - 1], count: finite.length };
}

export function totalAnomalies(anomalies: Anomalies): number {
  return anomalies.gaps + anomalies.duplicates + anomalies.missing;
}

/** A target's figure in one repetition, or NaN when it has none. */
export function figureOf(runs: RunRecord[], target: string, repetition: number, key: string): number {
  const run = runs.find((r) => r.target === target && r.repetition === repetition && key in (r.result?.figures ?? {}));
  return run?.result?.figures[key] ?? NaN;
}

export function summarise(runs: RunRecord[], targets: string[], baseline: string): TargetSummary[] {
  const repetitions = [...new Set(runs.map((r) => r.repetition))];
  return targets.map((target) => {
    const own = runs.filter((r) => r.target === target);
    const figures: Record<string, FigureSummary> = {};
    for (const { key } of FIGURES) {
      const values = repetitions.map((rep) => figureOf(runs, target, rep, key));
      if (!values.some(Number.isFinite)) continue;
      const ratios = repetitions.map((rep) => figureOf(runs, target, rep, key) / figureOf(runs, baseline, rep, key));
      figures[key] = { value: spread(values), ratio: spread(ratios) };
    }
    const anomalies = { gaps: 0, duplicates: 0, missing: 0 };
    const cpu: TargetSummary['cpu'] = {};
    const skipped: Record<string, string> = {};
    for (const run of own) {
      if (!run.result) continue;
      anomalies.gaps += run.result.anomalies.gaps;
      anomalies.duplicates += run.result.anomalies.duplicates;
      anomalies.missing += run.result.anomalies.missing;
      if (run.result.skipped) skipped[run.scenario] = run.result.skipped;
    }
    for (const scenario of new Set(own.map((r) => r.scenario))) {
      const measured = own.filter((r) => r.scenario === scenario && r.result?.cpu).map((r) => r.result!.cpu!);
      if (measured.length > 0)
        cpu[scenario] = {
          loadgen: spread(measured.map((c) => c.loadgenPercent)),
          server: spread(measured.map((c) => c.serverPercent)),
        };
    }
    return {
      target,
      figures,
      anomalies,
      errors: own.filter((r) => r.error).map((r) => `${r.scenario} (rep ${r.repetition + 1}): ${r.error}`),
      skipped,
      cpu,
      notes: [...new Set(own.flatMap((r) => (r.result?.notes ?? []).map((note) => `${r.scenario}: ${note}`)))],
    };
  });
}
