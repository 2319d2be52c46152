import { isStreamEvent, StreamLimitError, StreamRegistry, type ResumableStream } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, useStore, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';

const manual = { heartbeatMs: 0, persistEveryEvents: 0, persistEveryMs: 0 };

function collectTypes(stream: ResumableStream, lastEventId?: string): Promise<string[]> {
  const seen: string[] = [];
  return new Promise((resolve) =>
    stream.observe(lastEventId, { heartbeat: false }).subscribe({
      next: (message) => isStreamEvent(message) && seen.push(`${message.sequence}:${message.type}`),
      complete: () => resolve(seen),
    }),
  );
}

describe.each(databaseKinds())('what the store must never lose (%s)', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => ({ db, store } = opened));

  it('retries a failed final write, and keeps the stream until it is stored', async () => {
    const registry = new StreamRegistry({ ...manual, store, retentionMs: 200 });
    const stream = registry.create();
    for (let i = 0; i < 5; i++) stream.send({ data: i });
    const events = db.table('meridian_stream_events');
    await db.dataSource.query(`ALTER TABLE ${events} RENAME TO meridian_stream_events_away`);
    stream.complete();
    // Past the retention: not written yet, so still here.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(registry.has(stream.id)).toBe(true);
    await db.dataSource.query(
      `ALTER TABLE ${db.table('meridian_stream_events_away')} RENAME TO meridian_stream_events`,
    );
    await eventually(() => !registry.has(stream.id), 10_000);
    expect(await store.loadMeta(stream.id)).toMatchObject({ status: 'completed', lastSequence: 6 });
    await registry.shutdown({ graceMs: 0 });
  });

  it('stores data with NUL bytes and data that starts with the encoding marker, exactly', async () => {
    const registry = new StreamRegistry({ ...manual, store });
    const stream = registry.create();
    const texts = ['a\u0000b', '\u0001looks encoded', 'plain', '\u0000', ''];
    for (const text of texts) stream.send({ data: text });
    await stream.persistAndClear();
    expect((await store.readAfter(stream.id, 0, 10)).map((event) => event.data)).toEqual(texts);
    await registry.shutdown({ graceMs: 0 });
  });

  it('refuses a stream whose id the store holds under another epoch, instead of growing memory', async () => {
    const first = new StreamRegistry({ ...manual, store });
    const old = first.create(undefined, { id: `taken-${kind}` });
    old.send({ data: 'old' });
    old.complete();
    await old.persist();
    await first.shutdown({ graceMs: 0 });
    const second = new StreamRegistry({ ...manual, store, bufferMaxEvents: 5 });
    const reused = second.create(undefined, { id: `taken-${kind}` });
    for (let i = 0; i < 20; i++) reused.send({ data: i });
    await expect(reused.persist()).rejects.toThrow(/already exists/);
    // Refused when its id was claimed (whenShared()), and dropped: nothing of it was stored.
    await expect(reused.whenShared()).rejects.toThrow(/already exists/);
    expect([reused.isFinished, second.has(`taken-${kind}`)]).toEqual([true, false]);
    expect((await store.readAfter(`taken-${kind}`, 0, 100)).map((event) => event.data)).toEqual([
      'old',
      '{"status":"completed"}',
    ]);
    // It takes nothing more: memory cannot grow through it.
    expect(reused.send({ data: 'more' })).toBeUndefined();
    await second.shutdown({ graceMs: 0 });
  });

  it('refuses a persist function of your own when a store is configured', async () => {
    const registry = new StreamRegistry({ ...manual, store });
    const stream = registry.create();
    stream.send({ data: 1 });
    await expect(stream.persistAndClear(async () => undefined)).rejects.toThrow(/has a store/);
    expect(stream.buffered.events).toBe(1);
    await registry.shutdown({ graceMs: 0 });
  });

  it('ends a stream whose producer died mid-way with a final error event when it is restored', async () => {
    const dead = new StreamRegistry({ ...manual, store });
    const stream = dead.create();
    for (let i = 0; i < 3; i++) stream.send({ data: i });
    await stream.persist();
    dead.get(stream.id)!.dispose(); // the process is gone: no final event was ever written
    const revived = new StreamRegistry({ ...manual, store });
    const restored = (await revived.locate(stream.id))!;
    expect(await collectTypes(restored)).toEqual(['1:message', '2:message', '3:message', '4:error']);
    // Its final event has an id of its own epoch: `${stream.epoch}-4` may have reached a client.
    expect(restored.lastEventId).not.toBe(`${stream.epoch}-4`);
    expect(restored.isFullySeenBy(restored.lastEventId)).toBe(true);
    expect(restored.isFullySeenBy(`${stream.epoch}-4`)).toBe(false);
    // Brought back again later, it ends the same way, with the same id.
    const again = new StreamRegistry({ ...manual, store });
    const restoredAgain = (await again.locate(stream.id))!;
    expect(await collectTypes(restoredAgain, `${stream.epoch}-3`)).toEqual(['4:error']);
    expect(restoredAgain.lastEventId).toBe(restored.lastEventId);
    await Promise.all([revived.shutdown({ graceMs: 0 }), again.shutdown({ graceMs: 0 })]);
  });

  it('counts streams brought back from the store against maxStreams', async () => {
    const writer = new StreamRegistry({ ...manual, store });
    const stored = writer.create();
    stored.complete();
    await stored.persist();
    const full = new StreamRegistry({ ...manual, store, maxStreams: 1 });
    full.create();
    await expect(full.locate(stored.id)).rejects.toThrow(StreamLimitError);
    await Promise.all([writer.shutdown({ graceMs: 0 }), full.shutdown({ graceMs: 0 })]);
  });

  it('writes behind on time alone (persistEveryMs)', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, store, persistEveryEvents: 0, persistEveryMs: 50 });
    const stream = registry.create();
    for (let i = 0; i < 7; i++) stream.send({ data: i });
    expect(stream.persistedThrough).toBe(0);
    await eventually(() => stream.persistedThrough === 7);
    await registry.shutdown({ graceMs: 0 });
  });
});
