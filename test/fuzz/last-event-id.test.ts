import { describe, test } from '@jest/globals';
import { formatEventId, MAX_EVENT_ID_LENGTH, parseEventId } from '../../lib/core/event-id.js';
import { formatSseMessage } from '../../lib/core/sse-frame.js';
import { readLastEventId } from '../../lib/nest/last-event-id.js';
import {
  InvalidEventIdError,
  isStreamEvent,
  MeridianStreamError,
  StreamFullyDeliveredError,
  StreamNotFoundError,
  StreamRegistry,
  type ResumableStream,
  type SseMessage,
} from '../../lib/index.js';
import {
  check,
  checkCoverage,
  eventIdOracle as oracleParse,
  forAll,
  fuzzTimeout,
  Gen,
  interpretEventStream,
  randomEpoch,
  randomLastEventId,
  randomSequence,
  same,
  show,
} from '../support/fuzz-sse.js';
import { thrownBy } from '../support/thrown-by.js';

/*
 * Issue 7: fuzz of Last-Event-ID parsing. Whatever a client sends, parseEventId(),
 * readLastEventId() and a stream's resolveResume() / isFullySeenBy() / observe() either answer
 * or throw the library's typed 400, or its 204 where everything was seen (never a TypeError,
 * never a hang on a huge value), and every id the library issues round-trips. Reproduce a
 * failure with the FUZZ_SEED and FUZZ_CASE it prints; FUZZ_SCALE=10 hunts longer.
 */

/** Checks that `error` is the library's typed 400 for a bad id, with a bounded, printable message. */
function expectInvalidId(error: unknown, value: string): void {
  check(error instanceof InvalidEventIdError, () => `expected InvalidEventIdError, got ${show(String(error))}`);
  check(error instanceof MeridianStreamError, 'not a MeridianStreamError');
  same([error.statusCode, error.status, error.expose, error.code], [400, 400, true, 'INVALID_EVENT_ID'], 'error shape');
  same(error.eventId, value, 'error.eventId');
  check(/^Invalid Last-Event-ID "/.test(error.message), () => `message ${show(error.message)}`);
  // Sent to the client in a JSON body: printable ASCII only, and short whatever the input's size.
  check(/^[\x20-\x7e]*$/.test(error.message), () => `non-printable characters in ${show(error.message)}`);
  check(error.message.length <= 300, () => `message of ${error.message.length} characters`);
}

describe('Last-Event-ID fuzz', () => {
  test('parseEventId(): arbitrary strings parse exactly when they are ids, else throw InvalidEventIdError (400)', () => {
    const outcomes = { valid: 0, invalid: 0 };
    forAll('parseEventId on arbitrary strings', 6_000, (gen) => {
      const value = gen.note('value', randomLastEventId(gen));
      const expected = oracleParse(value);
      let parsed: unknown;
      const started = performance.now();
      const error = thrownBy(() => (parsed = parseEventId(value)));
      // Linear at worst (a generous 1 µs per character): no backtracking on a huge value.
      const elapsed = performance.now() - started;
      check(elapsed < 50 + value.length / 1_000, () => `parseEventId took ${elapsed.toFixed(1)} ms`);
      if (expected) {
        check(error === undefined, () => `a valid id was refused: ${show(String(error))}`);
        same(parsed, expected, 'parsed position');
        same(formatEventId(expected.epoch, expected.sequence), value, 'formatEventId(parseEventId(id))');
        outcomes.valid++;
      } else {
        expectInvalidId(error, value);
        outcomes.invalid++;
      }
    });
    // The generator must exercise both sides.
    checkCoverage(Math.min(outcomes.valid, outcomes.invalid) > 500, () => `outcomes ${show(outcomes)}`);
  });

  test('every id formatEventId() can issue round-trips through parseEventId()', () => {
    forAll('issued ids round-trip', 6_000, (gen) => {
      const epoch = gen.note('epoch', randomEpoch(gen));
      const sequence = gen.note('sequence', randomSequence(gen));
      const id = formatEventId(epoch, sequence);
      check(id.length <= MAX_EVENT_ID_LENGTH, `${id} is longer than ${MAX_EVENT_ID_LENGTH}`);
      same(parseEventId(id), { epoch, sequence }, 'parseEventId(formatEventId(epoch, sequence))');
    });
  });

  test('readLastEventId(): any request shape gives the header, else the query, else undefined, and never throws', () => {
    const randomValue = (gen: Gen): unknown =>
      gen.weighted<() => unknown>([
        [4, () => randomLastEventId(gen)],
        [2, () => ''],
        [2, () => undefined],
        [2, () => Array.from({ length: gen.int(0, 3) }, () => gen.pick([randomLastEventId(gen), '', undefined]))],
        [1, () => gen.pick([null, 0, 1, true, {}, { '0': 'x' }, [['nested']], Symbol('s')])],
      ])();
    const firstString = (value: unknown): string | undefined => {
      const single = Array.isArray(value) ? value[0] : value;
      return typeof single === 'string' ? single : undefined;
    };
    forAll('readLastEventId on random requests', 6_000, (gen) => {
      const header = randomValue(gen);
      const query = randomValue(gen);
      const request: Record<string, unknown> = {};
      if (gen.bool(0.9)) request.headers = gen.bool(0.1) ? null : { 'last-event-id': header, other: gen.string() };
      if (gen.bool(0.9)) request.query = gen.bool(0.1) ? null : { lastEventId: query, lasteventid: gen.string() };
      gen.note('request', request);
      const headers = request.headers as Record<string, unknown> | null | undefined;
      const queries = request.query as Record<string, unknown> | null | undefined;
      const fromHeader = firstString(headers?.['last-event-id']);
      const expected = fromHeader || firstString(queries?.lastEventId) || undefined;
      let result: unknown;
      const error = thrownBy(() => (result = readLastEventId(request as Parameters<typeof readLastEventId>[0])));
      check(error === undefined, () => `readLastEventId threw ${show(String(error))}`);
      same(result, expected, 'readLastEventId');
    });
  });

  test(
    "a stream's resolveResume(), isFullySeenBy() and observe() answer any Last-Event-ID or throw only the typed 400 (and 204 when all is seen)",
    () => {
      const registry = new StreamRegistry({ heartbeatMs: 0 });
      let stream: ResumableStream | undefined;
      let retryMs: number | undefined;
      const outcomes: Record<string, number> = {};
      const count = (outcome: string) => (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);
      forAll('resume from arbitrary Last-Event-IDs', 5_000, (gen, index) => {
        // A new stream every 50 cases: some running, some finished, some that dropped history.
        if (index % 50 === 0 || !stream) {
          if (stream) registry.remove(stream.id);
          const bufferMaxEvents = gen.bool(0.3) ? gen.int(1, 5) : 10_000;
          retryMs = gen.bool() ? gen.pick([0, 250, 3_000]) : undefined;
          stream = registry.create(undefined, { bufferMaxEvents, retryMs });
          for (let i = gen.int(0, 12); i > 0; i--) stream.send({ data: gen.string() });
          if (gen.bool(0.5)) stream.complete();
        }
        const s = stream;
        gen.note('stream', {
          epoch: s.epoch,
          last: s.lastSequence,
          first: s.buffered.firstSequence,
          state: s.state,
          retryMs,
        });
        const issued = Array.from({ length: s.lastSequence + 3 }, (_, n) => formatEventId(s.epoch, n));
        const value = gen.note('lastEventId', gen.bool(0.05) ? '' : randomLastEventId(gen, issued));
        const position = value === '' ? undefined : oracleParse(value);
        const invalid =
          value !== '' && (!position || (position.epoch === s.epoch && position.sequence > s.lastSequence));

        let point: ReturnType<ResumableStream['resolveResume']> | undefined;
        const resolveError = thrownBy(() => (point = s.resolveResume(value)));
        let fullySeen: boolean | undefined;
        const seenError = thrownBy(() => (fullySeen = s.isFullySeenBy(value)));
        const messages: SseMessage[] = [];
        const observeError = thrownBy(() =>
          s
            .observe(value, { heartbeat: false })
            .subscribe((message) => messages.push(message))
            .unsubscribe(),
        );
        const registryError = thrownBy(() => registry.observe(s.id, value).subscribe().unsubscribe());
        if (invalid) {
          expectInvalidId(resolveError, value);
          expectInvalidId(observeError, value);
          expectInvalidId(registryError, value);
          // isFullySeenBy() parses only for a finished stream; an id ahead is simply not "fully seen".
          if (position || !s.isFinished) same([seenError, fullySeen], [undefined, false], 'isFullySeenBy()');
          else expectInvalidId(seenError, value);
          count(position ? 'ahead' : 'malformed');
          return;
        }
        for (const [what, error] of Object.entries({ resolveError, seenError })) {
          check(error === undefined, () => `${what}: ${show(String(error))}`);
        }
        let cursor = position?.epoch === s.epoch ? position.sequence : 0;
        let reset = position && position.epoch !== s.epoch ? 'unknown_epoch' : undefined;
        if (cursor < s.buffered.firstSequence - 1) {
          cursor = s.buffered.firstSequence - 1;
          reset ??= 'history_truncated';
        }
        // The point carries the id it was read from, for the reset event that repeats it.
        const expected =
          value === undefined || value === null ? { cursor, reset } : { cursor, reset, lastEventId: value };
        same(point, expected, 'resolveResume()');
        count(reset ?? (fullySeen ? 'fully seen' : 'continue'));
        same(
          fullySeen,
          s.isFinished && position?.epoch === s.epoch && position.sequence === s.lastSequence,
          'isFullySeenBy()',
        );
        if (fullySeen) {
          // Nothing left to send: observe() answers 204 rather than an empty event stream.
          for (const [what, error] of Object.entries({ observeError, registryError })) {
            check(error instanceof StreamFullyDeliveredError, () => `${what}: ${show(String(error))}`);
          }
          return;
        }
        for (const [what, error] of Object.entries({ observeError, registryError })) {
          check(error === undefined, () => `${what}: ${show(String(error))}`);
        }
        // The first message on the wire: a reset that names the id sent (only ever a well-formed
        // one: anything else was refused above), else, with retryMs, the id-only position marker,
        // else nothing: the events after the cursor come first.
        const marker = `${s.epoch}-${cursor}`;
        const hasPreamble = reset !== undefined || retryMs !== undefined;
        count(reset ? 'reset first' : hasPreamble ? 'marker first' : 'events first');
        const after = hasPreamble ? messages.slice(1) : messages;
        same(
          after.map((message) => (isStreamEvent(message) ? message.sequence : show(message))),
          Array.from({ length: s.lastSequence - cursor }, (_, n) => cursor + 1 + n),
          'events after the preamble',
        );
        if (hasPreamble) {
          check(messages.length > 0 && !isStreamEvent(messages[0]), () => `no preamble: ${show(messages[0])}`);
          const wire = interpretEventStream(formatSseMessage(messages[0]));
          same(wire.lastEventId, marker, 'position on the wire');
          same(wire.retries, retryMs === undefined ? [] : [retryMs], 'retry on the wire');
          if (reset) {
            same(wire.events.length, 1, 'reset events');
            same(
              JSON.parse(wire.events[0].data),
              { reason: reset, lastEventId: value, resumesAfter: marker },
              'reset data',
            );
          } else {
            same(wire.events.length, 0, 'events in the position marker');
          }
        }
        // Preamble or not, the client ends up at the last event (keeping its own id when it got nothing).
        const whole = interpretEventStream(messages.map((message) => formatSseMessage(message)).join(''));
        same(whole.lastEventId, messages.length ? `${s.epoch}-${s.lastSequence}` : '', 'position after the connection');
      });
      for (const outcome of [
        'malformed',
        'ahead',
        'unknown_epoch',
        'history_truncated',
        'fully seen',
        'continue',
        'reset first',
        'marker first',
        'events first',
      ]) {
        checkCoverage((outcomes[outcome] ?? 0) >= 50, () => `too few "${outcome}" cases: ${show(outcomes)}`);
      }
    },
    fuzzTimeout(3_000),
  );

  test('registry lookups by arbitrary stream ids answer 404 with a printable message, never anything else', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const known = registry.create(undefined, { id: 'known-stream' });
    forAll('observe unknown stream ids', 3_000, (gen) => {
      const id = gen.note('id', gen.bool(0.02) ? gen.hugeString(1 << 17) : gen.string());
      if (id === known.id) return;
      for (const lookup of [() => registry.observe(id, randomLastEventId(gen)), () => registry.require(id)]) {
        const error = thrownBy(lookup);
        check(error instanceof StreamNotFoundError, () => `expected StreamNotFoundError, got ${show(String(error))}`);
        same(error.statusCode, 404, 'statusCode');
        check(/^[\x20-\x7e]*$/.test(error.message), () => `non-printable characters in ${show(error.message)}`);
        check(error.message.length <= 300, () => `message of ${error.message.length} characters`);
      }
      same(registry.get(id), undefined, 'registry.get(unknown id)');
    });
  });
});
