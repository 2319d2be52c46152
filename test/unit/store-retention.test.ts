import { InvalidStreamInputError, StreamRegistry, type EventStore, type StoreDeletion } from 'nestjs-meridian-stream';
import { within } from '../support/eventually.js';

/** A store whose `purgeFinished` answers from a script of batch sizes, recording its calls. */
function scriptedStore(batches: number[], fail?: Error) {
  const calls: { before: Date; limit: number }[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  let firstCall: () => void = () => undefined;
  const called = new Promise<void>((resolve) => (firstCall = resolve));
  const store: EventStore = {
    append: async () => undefined,
    readAfter: async () => [],
    loadMeta: async () => undefined,
    async purgeFinished(options): Promise<StoreDeletion> {
      calls.push(options);
      firstCall();
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      if (fail) throw fail;
      const size = batches.shift() ?? 0;
      return { streamIds: Array.from({ length: size }, (_, i) => `s${calls.length}-${i}`), events: size * 10 };
    },
  };
  return { store, calls, called, mostInFlight: () => mostInFlight };
}

describe('store retention options and purge runs', () => {
  it.each([0, -1, 1.5, '1000', Number.NaN])(
    'rejects storeRetentionMs %p with an error that names the option',
    (value) => {
      expect(() => new StreamRegistry({ storeRetentionMs: value as number })).toThrow(InvalidStreamInputError);
      expect(() => new StreamRegistry({ storeRetentionMs: value as number })).toThrow(
        /Option storeRetentionMs must be a whole number of milliseconds >= 1/,
      );
    },
  );

  it('rejects a bad storePurgeEveryMs the same way', () => {
    expect(() => new StreamRegistry({ storeRetentionMs: 1000, storePurgeEveryMs: 0 })).toThrow(
      /Option storePurgeEveryMs/,
    );
  });

  it('deletes in batches of at most 100 streams until one deletes nothing, with the cutoff retention ago; one run at a time', async () => {
    const { store, calls, mostInFlight } = scriptedStore([100, 100, 100, 20]);
    const registry = new StreamRegistry({ store, storeRetentionMs: 60_000, storePurgeEveryMs: 3_600_000 });
    const before = Date.now();
    const [first, second] = [registry.purgeStore(), registry.purgeStore()];
    expect(await first).toEqual({ finished: 320, interrupted: 0, events: 3200 });
    expect(await second).toEqual(await first);
    // Until a batch deletes nothing: a store may delete fewer than asked.
    expect(calls.map((call) => call.limit)).toEqual([100, 100, 100, 100, 100]);
    expect(calls[0].before.getTime()).toBeGreaterThanOrEqual(before - 60_000);
    expect(calls[0].before.getTime()).toBeLessThanOrEqual(Date.now() - 60_000);
    expect(mostInFlight()).toBe(1);
    await registry.shutdown({ graceMs: 0 });
  });

  it('logs a failed purge at warn and runs again on its timer', async () => {
    const { store, calls } = scriptedStore([], new Error('database away'));
    const warnings: string[] = [];
    let warned: () => void = () => undefined;
    const second = new Promise<void>((resolve) => (warned = resolve));
    const logger = {
      log() {},
      error() {},
      warn: (message: string) => {
        warnings.push(message);
        if (warnings.length === 3) warned();
      },
    };
    const registry = new StreamRegistry({ store, logger, storeRetentionMs: 1_000, storePurgeEveryMs: 10 });
    await within(second, 5_000, () => `warnings: ${JSON.stringify(warnings)}`);
    // Said once at start-up: this store cannot find interrupted streams.
    expect(warnings[0]).toMatch(
      /no listStale\(\) or deleteStream\(\) method: finished streams are purged, interrupted ones are kept/,
    );
    expect(warnings[1]).toMatch(/Store retention: the purge failed; it runs again in 10 ms\. Error: database away/);
    expect(warnings[2]).toBe(warnings[1]);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    await registry.shutdown({ graceMs: 0 });
  });
});

describe('store retention in StreamingModule', () => {
  it('takes storeRetentionMs as a module option: a bad value fails start-up, a good one purges until app.close()', async () => {
    const { Module } = await import('@nestjs/common');
    const { NestFactory } = await import('@nestjs/core');
    const { StreamingModule } = await import('nestjs-meridian-stream');
    const boot = (options: Parameters<typeof StreamingModule.forRoot>[0]) => {
      @Module({ imports: [StreamingModule.forRoot(options)] })
      class RetentionApp {}
      return NestFactory.createApplicationContext(RetentionApp, { logger: false, abortOnError: false });
    };
    await expect(boot({ storeRetentionMs: -5, logger: false })).rejects.toThrow(/Option storeRetentionMs/);

    const { store, calls, called } = scriptedStore([]);
    const app = await boot({ store, storeRetentionMs: 1_000, storePurgeEveryMs: 5, logger: false });
    await within(called, 5_000, () => 'no purge ran');
    await app.close();
    const after = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.length).toBe(after);
  });
});
