import { FIGURES } from './figures.js';
import { figureOf, spread, type RunRecord, type Spread } from './summary.js';

/**
 * Routes compared with each other as well as with raw node: plain `@Sse()` against the
 * hand-written `@Sse()` + `Subject` route on the same adapter, as issue 6 asks that plain be no
 * slower on any figure. The main table compares them only through their ratios to raw node, which
 * carry raw node's noise; here each is divided by the other in the same repetition.
 */
export const PAIRS: readonly (readonly [target: string, reference: string])[] = [
  ['meridian-plain-express', 'nest-subject-express'],
  ['meridian-plain-fastify', 'nest-subject-fastify'],
];

export interface PairFigure {
  /** The target's figure divided by the reference's, per repetition in which both have it. */
  ratio: Spread;
  /** Repetitions in which the target did better (higher throughput, lower everything else). */
  better: number;
  /** Repetitions in which it did worse (the rest were ties). */
  worse: number;
  /**
   * Two-sided sign test of "each is as likely as the other to do better": below 0.05, the
   * difference is one this run measured. It cannot get there with few repetitions (3: 0.25).
   */
  p: number;
}

export interface PairSummary {
  target: string;
  reference: string;
  /** Figure key → the comparison; only figures both have in at least one repetition. */
  figures: Record<string, PairFigure>;
}

/** Each pair of {@link PAIRS} with both targets in `runs`, figure by figure, repetition by repetition. */
export function comparePairs(runs: RunRecord[], pairs = PAIRS): PairSummary[] {
  const repetitions = [...new Set(runs.map((r) => r.repetition))];
  const present = new Set(runs.map((r) => r.target));
  return pairs
    .filter(([target, reference]) => present.has(target) && present.has(reference))
    .map(([target, reference]) => {
      const figures: Record<string, PairFigure> = {};
      for (const { key, higherIsBetter } of FIGURES) {
        const ratios: number[] = [];
        let better = 0;
        let worse = 0;
        for (const repetition of repetitions) {
          const own = figureOf(runs, target, repetition, key);
          const theirs = figureOf(runs, reference, repetition, key);
          // A ratio needs both figures, and one to divide by.
          if (Number.isNaN(own) || !(theirs > 0)) continue;
          ratios.push(own / theirs);
          if (own === theirs) continue;
          if (higherIsBetter === own > theirs) better++;
          else worse++;
        }
        if (ratios.length > 0) figures[key] = { ratio: spread(ratios), better, worse, p: signTest(better, worse) };
      }
      return { target, reference, figures };
    });
}

/** Two-sided p of the sign test: the chance of a split at least this uneven between two equals. */
export function signTest(better: number, worse: number): number {
  const n = better + worse;
  let tail = 0;
  let choose = 1; // C(n, i)
  for (let i = 0; i <= Math.min(better, worse); i++) {
    tail += choose;
    choose = (choose * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}
