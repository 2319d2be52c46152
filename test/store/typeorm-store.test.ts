import { StreamAlreadyExistsError, StreamRegistry, type StreamEvent } from 'nestjs-meridian-stream';
import { StoreSequenceError, TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, useStore, type TestDatabase } from '../support/databases.js';

function event(epoch: string, sequence: number, data = `d${sequence}`): StreamEvent {
  return { id: `${epoch}-${sequence}`, type: 'message', data, sequence, epoch, bytes: data.length };
}
const meta = (streamId: string, epoch: string, lastSequence: number) => ({
  streamId,
  epoch,
  status: 'running' as const,
  lastSequence,
  finishedAt: null,
});

describe.each(databaseKinds())('TypeOrmEventStore on %s', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => ({ db, store } = opened));

  it('appends in order, reads back in pages, and keeps the metadata', async () => {
    await store.append(
      meta('s1', 'e1', 3),
      [1, 2, 3].map((n) => event('e1', n)),
    );
    await store.append(
      meta('s1', 'e1', 5),
      [4, 5].map((n) => event('e1', n, `line one\nline "two" ✓ ${n}`)),
    );
    expect((await store.readAfter('s1', 0, 2)).map((e) => e.sequence)).toEqual([1, 2]);
    expect((await store.readAfter('s1', 2, 10)).map((e) => e.sequence)).toEqual([3, 4, 5]);
    expect((await store.readAfter('s1', 4, 10))[0]).toEqual({
      sequence: 5,
      type: 'message',
      data: 'line one\nline "two" ✓ 5',
    });
    expect(await store.readAfter('s1', 5, 10)).toEqual([]);
    expect(await store.loadMeta('s1')).toEqual(meta('s1', 'e1', 5));
    expect(await store.loadMeta('nope')).toBeUndefined();
  });

  it('rejects a write that would duplicate or skip events, and writes nothing of it', async () => {
    await store.append(
      meta('s2', 'e2', 2),
      [1, 2].map((n) => event('e2', n)),
    );
    await expect(
      store.append(
        meta('s2', 'e2', 3),
        [2, 3].map((n) => event('e2', n)),
      ),
    ).rejects.toThrow(StoreSequenceError);
    await expect(
      store.append(
        meta('s2', 'e2', 4),
        [4].map((n) => event('e2', n)),
      ),
    ).rejects.toThrow(StoreSequenceError);
    expect((await store.readAfter('s2', 0, 10)).map((e) => e.sequence)).toEqual([1, 2]);
    expect((await store.loadMeta('s2'))?.lastSequence).toBe(2);
  });

  it('refuses a stream id stored under another epoch', async () => {
    await store.append(meta('s3', 'first', 1), [event('first', 1)]);
    await expect(store.append(meta('s3', 'second', 1), [event('second', 1)])).rejects.toThrow(StreamAlreadyExistsError);
  });

  it('rolls back the whole write when a later part of it fails', async () => {
    // A row already in the way of the second INSERT chunk (rows 101..200) makes that chunk fail.
    await db.dataSource.query(
      `INSERT INTO ${db.table('meridian_stream_events')} (stream_id, sequence, epoch, type, data, created_at) VALUES ('s4', 150, 'e4', 'message', 'x', 0)`,
    );
    const events = Array.from({ length: 200 }, (_, i) => event('e4', i + 1));
    await expect(store.append(meta('s4', 'e4', 200), events)).rejects.toThrow();
    expect((await store.readAfter('s4', 0, 1000)).map((e) => e.sequence)).toEqual([150]);
    expect(await store.loadMeta('s4')).toBeUndefined();
  });

  it('names the fix when its tables are missing', async () => {
    await db.dataSource.query(`ALTER TABLE ${db.table('meridian_streams')} RENAME TO meridian_streams_gone`);
    try {
      await expect(store.check()).rejects.toThrow(/meridianStreamEntities.*meridianStreamMigrations/);
    } finally {
      await db.dataSource.query(`ALTER TABLE ${db.table('meridian_streams_gone')} RENAME TO meridian_streams`);
    }
    await expect(store.check()).resolves.toBeUndefined();
  });

  it('serves a stream that left memory to a new registry (a restart): the rest, then nothing', async () => {
    const first = new StreamRegistry({ store, heartbeatMs: 0 });
    const stream = first.create(undefined, { id: 'restart' });
    for (let i = 0; i < 10; i++) stream.send({ data: { i } });
    stream.complete();
    await stream.persistAndClear();
    await first.shutdown({ graceMs: 0 });

    const second = new StreamRegistry({ store, heartbeatMs: 0 });
    const restored = await second.locate('restart');
    expect(restored?.state).toBe('completed');
    expect(restored?.epoch).toBe(stream.epoch);
    const seen: StreamEvent[] = [];
    await new Promise<void>((resolve) =>
      restored!.observe(`${stream.epoch}-4`).subscribe({
        next: (message) => 'sequence' in message && seen.push(message),
        complete: resolve,
      }),
    );
    expect(seen.map((e) => e.sequence)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(seen.at(-1)!.type).toBe('done');
    expect(restored!.isFullySeenBy(`${stream.epoch}-11`)).toBe(true);
    expect(await second.locate('never-created')).toBeUndefined();
    await second.shutdown({ graceMs: 0 });
  });
});
