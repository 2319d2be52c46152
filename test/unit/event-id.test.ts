import { describe, expect, test } from '@jest/globals';
import { InvalidEventIdError } from '../../lib/core/errors.js';
import { formatEventId, isValidEpoch, MAX_EVENT_ID_LENGTH, newEpoch, parseEventId } from '../../lib/core/event-id.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';

function rejection(value: string): InvalidEventIdError {
  try {
    parseEventId(value);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventIdError);
    return error as InvalidEventIdError;
  }
  throw new Error(`parseEventId(${JSON.stringify(value)}) did not throw`);
}

describe('parseEventId / formatEventId', () => {
  test('round-trips what formatEventId produces', () => {
    expect(formatEventId('3f9a0c12b7e4', 42)).toBe('3f9a0c12b7e4-42');
    expect(parseEventId('3f9a0c12b7e4-42')).toEqual({ epoch: '3f9a0c12b7e4', sequence: 42 });
    expect(parseEventId('a-0')).toEqual({ epoch: 'a', sequence: 0 });
    expect(parseEventId(`${'z'.repeat(32)}-1`)).toEqual({ epoch: 'z'.repeat(32), sequence: 1 });
  });

  test('accepts the largest safe integer and rejects anything larger', () => {
    expect(parseEventId('abc-9007199254740991')).toEqual({ epoch: 'abc', sequence: Number.MAX_SAFE_INTEGER });
    rejection('abc-9007199254740992');
    rejection('abc-9999999999999999');
    rejection('abc-99999999999999999');
    rejection(`abc-${'9'.repeat(40)}`);
  });

  test.each([
    ['empty', ''],
    ['no dash', 'abc1'],
    ['no sequence', 'abc-'],
    ['no epoch', '-1'],
    ['leading zero', 'abc-01'],
    ['double zero', 'abc-00'],
    ['negative', 'abc--1'],
    ['plus sign', 'abc-+1'],
    ['decimal', 'abc-1.0'],
    ['exponent', 'abc-1e3'],
    ['hex sequence', 'abc-0x1'],
    ['uppercase epoch', 'ABC-1'],
    ['two dashes', 'a-b-1'],
    ['leading space', ' abc-1'],
    ['trailing space', 'abc-1 '],
    ['trailing LF', 'abc-1\n'],
    ['trailing CR', 'abc-1\r'],
    ['CRLF inside', 'abc\r\n-1'],
    ['NUL', 'abc\0-1'],
    ['NUL after', 'abc-1\0'],
    ['accented epoch', 'abç-1'],
    ['arabic-indic digit', 'abc-\u0661'],
    ['fullwidth digit', 'abc-\uff11'],
    ['emoji', '😀-1'],
    ['33-char epoch', `${'a'.repeat(33)}-1`],
  ])('rejects %s', (_name, value) => {
    const error = rejection(value);
    expect(error.statusCode).toBe(400);
    expect(error.status).toBe(400);
    expect(error.code).toBe('INVALID_EVENT_ID');
    expect(error.eventId).toBe(value);
    expect(error.message).toContain('expected "<epoch>-<sequence>"');
  });

  test(`rejects anything longer than ${MAX_EVENT_ID_LENGTH} characters before parsing it`, () => {
    expect(MAX_EVENT_ID_LENGTH).toBe(64);
    const error = rejection('a'.repeat(65));
    expect(error.message).toBe(`Invalid Last-Event-ID "${'a'.repeat(65)}": longer than 64 characters.`);
    expect(rejection(`${'a'.repeat(32)}-${'1'.repeat(32)}`).message).toContain('longer than 64 characters.');
    expect(rejection(`${'a'.repeat(32)}-${'1'.repeat(31)}`).message).toContain('expected "<epoch>-<sequence>"');
  });

  test('the error message escapes control characters and truncates long ids', () => {
    expect(rejection('ab\r\nc').message).toBe(
      'Invalid Last-Event-ID "ab??c": expected "<epoch>-<sequence>" as sent in the id field of an event, e.g. "3f9a0c12b7e4-42".',
    );
    const long = rejection('x'.repeat(2000));
    expect(long.message).toBe(`Invalid Last-Event-ID "${'x'.repeat(80)}...": longer than 64 characters.`);
  });

  test('newEpoch gives 12 lowercase hex characters, random per call', () => {
    const epochs = new Set(Array.from({ length: 200 }, () => newEpoch()));
    expect(epochs.size).toBe(200);
    for (const epoch of epochs) {
      expect(epoch).toMatch(/^[0-9a-f]{12}$/);
      expect(isValidEpoch(epoch)).toBe(true);
    }
    expect(isValidEpoch('')).toBe(false);
    expect(isValidEpoch('A')).toBe(false);
    expect(isValidEpoch('a'.repeat(33))).toBe(false);
  });
});

describe('event ids of a stream', () => {
  const registry = new StreamRegistry({ heartbeatMs: 0 });

  test('ids are <epoch>-<sequence>, sequences 1,2,3 per stream, epochs differ between streams', () => {
    const a = registry.create();
    const b = registry.create();
    expect(a.epoch).not.toBe(b.epoch);
    expect(a.lastEventId).toBe(`${a.epoch}-0`);
    const ids = [1, 2, 3].map((n) => a.send({ data: n })!.id);
    expect(ids).toEqual([`${a.epoch}-1`, `${a.epoch}-2`, `${a.epoch}-3`]);
    expect(b.send({ data: 'x' })!.id).toBe(`${b.epoch}-1`);
    expect(a.complete()).toBe(true);
    expect(a.eventAt(4)!.id).toBe(`${a.epoch}-4`);
    expect(a.lastEventId).toBe(`${a.epoch}-4`);
  });

  test('observe() throws InvalidEventIdError synchronously for malformed and ahead-of-stream ids', () => {
    const stream = registry.create();
    stream.send({ data: 'one' });
    for (const bad of [
      'nonsense',
      `${stream.epoch}-01`,
      `${stream.epoch}-1\n`,
      `${stream.epoch}-2`,
      `${stream.epoch}-9007199254740991`,
    ]) {
      let thrown: unknown;
      try {
        stream.observe(bad, { heartbeat: false });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidEventIdError);
      expect((thrown as InvalidEventIdError).statusCode).toBe(400);
    }
    expect(stream.clientCount).toBe(0);
    expect(() => stream.attach({ write: () => true, end: () => {} }, `${stream.epoch}-5`)).toThrow(InvalidEventIdError);
    expect(stream.clientCount).toBe(0);
  });

  test('an empty, null or undefined Last-Event-ID means "from the start"', () => {
    const stream = registry.create();
    stream.send({ data: 'one' });
    for (const none of ['', null, undefined]) {
      const messages: unknown[] = [];
      const sub = stream.observe(none, { heartbeat: false }).subscribe((m) => messages.push(m));
      expect(messages).toEqual([stream.eventAt(1)]);
      sub.unsubscribe();
    }
    // With retryMs, the position marker says so too: before the first event.
    const marked = registry.create(undefined, { retryMs: 1000 });
    marked.send({ data: 'one' });
    for (const none of ['', null, undefined]) {
      const messages: unknown[] = [];
      const sub = marked.observe(none, { heartbeat: false }).subscribe((m) => messages.push(m));
      expect(messages).toEqual([{ id: `${marked.epoch}-0`, retry: 1000 }, marked.eventAt(1)]);
      sub.unsubscribe();
    }
  });
});
