import { StreamRegistry, type StreamEvent } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';

describe('with a store, a client that stopped reading', () => {
  let db: TestDatabase;
  beforeAll(async () => (db = await openTestDatabase('sqlite')));
  afterAll(() => db.close());

  it('is still cut once it falls maxClientBacklogBytes behind, after its events moved to the store', async () => {
    // A buffer smaller than the backlog bound: what the client lacks moves to the store first.
    const registry = new StreamRegistry({
      store: new TypeOrmEventStore(db.dataSource),
      heartbeatMs: 0,
      bufferMaxEvents: 20,
      persistEveryEvents: 10,
      persistEveryMs: 0,
      maxClientBacklogBytes: 10_000,
    });
    const stream = registry.create();
    const received: StreamEvent[] = [];
    const ends: string[] = [];
    stream.attach({ write: (event) => (received.push(event), false), end: (reason) => ends.push(reason) });
    for (let i = 0; i < 400; i++) {
      stream.send({ data: 'x'.repeat(100) });
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => ends.length > 0);
    expect(ends).toEqual(['slow']);
    expect(received.map((event) => event.sequence)).toEqual([1]);
    expect(registry.stats()).toMatchObject({ clients: 0, slowClientDisconnects: 1 });
    await registry.shutdown({ graceMs: 0 });
  });
});
