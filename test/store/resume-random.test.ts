import { setImmediate as nextTurn } from 'node:timers/promises';
import { isStreamEvent, StreamRegistry, type EventStore, type ResumableStream } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import type { Subscription } from 'rxjs';
import { databaseKinds, useStore } from '../support/databases.js';
import { mulberry32 } from '../support/prng.js';

/** One reader across its reconnects: what it saw, where it started, whether it was told of a reset. */
class LogicalClient {
  readonly sequences: number[] = [];
  resets = 0;
  completed = false;
  private subscription: Subscription | undefined;
  constructor(readonly startAfter: number) {}

  get lastSeen(): number {
    return this.sequences.at(-1) ?? this.startAfter;
  }

  connect(stream: ResumableStream): void {
    const lastEventId = this.lastSeen > 0 ? `${stream.epoch}-${this.lastSeen}` : undefined;
    this.subscription = stream.observe(lastEventId, { heartbeat: false }).subscribe({
      next: (message) => {
        if (isStreamEvent(message)) this.sequences.push(message.sequence);
        else if ('type' in message) this.resets++;
      },
      complete: () => (this.completed = true),
    });
  }

  disconnect(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  get connected(): boolean {
    return this.subscription !== undefined && !this.completed;
  }
}

/** Runs one seeded schedule and checks every client it made; returns how many it checked. */
async function runSchedule(store: EventStore, seed: number): Promise<number> {
  const random = mulberry32(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const registry = new StreamRegistry({
    store,
    heartbeatMs: 0,
    bufferMaxEvents: 3 + pick(20),
    historyPageSize: 1 + pick(8),
    persistEveryEvents: pick(12),
    persistEveryMs: 0,
  });
  const stream = registry.create(undefined, { id: `random-${seed}` });
  const clients: LogicalClient[] = [];
  const writes: Promise<unknown>[] = [];
  for (let step = 0; step < 80; step++) {
    const roll = random();
    if (roll < 0.35) {
      for (let n = 1 + pick(5); n > 0; n--) stream.send({ data: { step, n } });
    } else if (roll < 0.5) {
      writes.push(stream.persistAndClear());
    } else if (roll < 0.55) {
      writes.push(stream.persist());
    } else if (roll < 0.7) {
      const client = new LogicalClient(random() < 0.5 ? 0 : pick(stream.lastSequence + 1));
      clients.push(client);
      client.connect(stream);
    } else if (roll < 0.8) {
      clients.filter((c) => c.connected)[0]?.disconnect();
    } else if (roll < 0.9) {
      clients.find((c) => !c.connected && !c.completed)?.connect(stream);
    } else {
      await (random() < 0.5 ? nextTurn() : writes.at(-1));
    }
  }
  stream.complete();
  await Promise.all(writes);
  for (const client of clients) if (!client.connected && !client.completed) client.connect(stream);
  const deadline = Date.now() + 10_000;
  while (clients.some((client) => !client.completed) && Date.now() < deadline) await nextTurn();
  const last = stream.lastSequence;
  // A schedule without clients would check nothing.
  expect({ seed, clients: clients.length > 0 }).toEqual({ seed, clients: true });
  for (const [index, client] of clients.entries()) {
    const expected = Array.from({ length: last - client.startAfter }, (_, i) => client.startAfter + 1 + i);
    expect({ seed, index, resets: client.resets, sequences: client.sequences }).toEqual({
      seed,
      index,
      resets: 0,
      sequences: expected,
    });
  }
  expect(registry.stats().clients).toBe(0);
  await registry.shutdown({ graceMs: 0 });
  return clients.length;
}

describe.each(databaseKinds())('random reconnects while persist-and-clear runs (%s)', (kind) => {
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => (store = opened.store));

  const seeds = Array.from({ length: kind === 'sqlite' ? 150 : 60 }, (_, i) => 1_000 + i);
  it(`every client ends with exactly its sequence, across ${seeds.length} seeded schedules`, async () => {
    // The real store, counting its reads: the schedules must really catch clients up from it.
    let reads = 0;
    const counting: EventStore = {
      // A turn of the event loop per write, as across a network: sends happen during writes.
      append: async (meta, events) => {
        await nextTurn();
        await store.append(meta, events);
      },
      loadMeta: (id) => store.loadMeta(id),
      readAfter: (id, after, limit) => {
        reads++;
        return store.readAfter(id, after, limit);
      },
    };
    let checked = 0;
    for (const seed of seeds) checked += await runSchedule(counting, seed);
    expect(checked).toBeGreaterThan(seeds.length);
    expect(reads).toBeGreaterThan(seeds.length);
  }, 120_000);
});
