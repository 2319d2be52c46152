import { describe, expect, test } from '@jest/globals';
import { expectExactRun, type SseFrame } from './fault-sse.js';

/* The check every fault suite relies on must fail on what it exists to catch, nothing included. */

const run = (from: number, to: number, final?: string): SseFrame[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    id: `ep-${from + i}`,
    ...(final && from + i === to ? { event: final } : {}),
    data: String(from + i),
  }));

describe('expectExactRun', () => {
  test('accepts a gap-free run, with or without its final event', () => {
    expect(expectExactRun(run(1, 3))).toBe(3);
    expect(expectExactRun(run(4, 6, 'done'), { after: 3, final: 'done' })).toBe(6);
  });

  test('refuses an empty run, unless the caller says none is a correct outcome', () => {
    expect(() => expectExactRun([], { label: 'nothing' })).toThrow(/empty/);
    expect(() => expectExactRun([], { after: 5 })).toThrow(/empty/);
    expect(expectExactRun([], { after: 5, mayBeEmpty: true })).toBe(5);
  });

  test('refuses a gap, a duplicate, a missing or misplaced final event', () => {
    const [one, two, three] = run(1, 3);
    expect(() => expectExactRun([one, three])).toThrow();
    expect(() => expectExactRun([one, two, two])).toThrow();
    expect(() => expectExactRun(run(1, 3), { final: 'done' })).toThrow();
    expect(() => expectExactRun(run(1, 3, 'done'))).toThrow();
    expect(() => expectExactRun(run(1, 3, 'error'), { final: 'done' })).toThrow();
  });
});
