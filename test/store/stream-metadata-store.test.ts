import { DataSource } from 'typeorm';
import { StreamRegistry, type CatchupFunction, type StreamMetadata } from 'nestjs-meridian-stream';
import {
  CreateMeridianStreamTables1795000000000,
  meridianStreamEntities,
  meridianStreamMigrations,
  TypeOrmEventStore,
} from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, openTestDatabase, useStore, type TestDatabase } from '../support/databases.js';

const blocks: CatchupFunction = async () => [];
const named = {
  catchups: { blocks },
  authorizers: {
    owner: (request: unknown, stream: { metadata: StreamMetadata }) =>
      (request as { user?: string }).user === stream.metadata.userId,
  },
};

describe.each(databaseKinds())('stream metadata in the TypeORM store on %s', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => ({ db, store } = opened));

  it('survives a restart with the options that travel: metadata, retryMs, eventTypes, named catchup and authorize', async () => {
    const first = new StreamRegistry({ store, heartbeatMs: 0, ...named });
    const metadata = { chatId: 'c1', userId: 'u1', title: 'Über "quotes"\n✓', nested: { n: [1, null, true] } };
    const stream = first.create(undefined, {
      id: 'meta-restart',
      metadata,
      retryMs: 2500,
      eventTypes: { done: 'finished' },
      catchup: 'blocks',
      authorize: 'owner',
    });
    stream.send({ data: 'one' });
    stream.complete();
    await stream.persistAndClear();
    await first.shutdown({ graceMs: 0 });

    const second = new StreamRegistry({ store, heartbeatMs: 0, ...named });
    const restored = (await second.locate('meta-restart'))!;
    expect(restored.producedHere).toBe(false);
    expect(restored.metadata).toEqual(metadata);
    expect(restored.options).toMatchObject({ retryMs: 2500, catchup: blocks });
    expect(restored.options.eventTypes.done).toBe('finished');
    expect(await second.isAuthorized({ user: 'u1' }, restored)).toBe(true);
    expect(await second.isAuthorized({ user: 'u2' }, restored)).toBe(false);
    await second.shutdown({ graceMs: 0 });
  });

  it('an interrupted stream comes back with its metadata; a stream without any has {}', async () => {
    const first = new StreamRegistry({ store, heartbeatMs: 0 });
    const running = first.create(undefined, { id: 'meta-interrupted', metadata: { chatId: 'c2' } });
    running.send({ data: 'one' });
    await running.persist();
    const plain = first.create(undefined, { id: 'meta-none' });
    plain.complete();
    await plain.persist();
    // No shutdown: the process "dies" with the stream running.
    const second = new StreamRegistry({ store, heartbeatMs: 0 });
    const restored = (await second.locate('meta-interrupted'))!;
    expect(restored.state).toBe('failed');
    expect(restored.metadata).toEqual({ chatId: 'c2' });
    expect((await second.locate('meta-none'))!.metadata).toEqual({});
    expect((await store.loadMeta('meta-interrupted'))?.descriptor?.metadata).toEqual({ chatId: 'c2' });
    await Promise.all([first.shutdown({ graceMs: 0 }), second.shutdown({ graceMs: 0 })]);
  });

  it('reads a stream stored before the descriptor column as having no metadata', async () => {
    await db.dataSource.query(
      `INSERT INTO ${db.table('meridian_streams')} (stream_id, epoch, status, last_sequence, created_at, updated_at, finished_at) VALUES ('meta-old', 'e1', 'completed', 0, 0, 0, 0)`,
    );
    expect(await store.loadMeta('meta-old')).toEqual({
      streamId: 'meta-old',
      epoch: 'e1',
      status: 'completed',
      lastSequence: 0,
      finishedAt: new Date(0),
    });
    const registry = new StreamRegistry({ store, heartbeatMs: 0 });
    expect((await registry.locate('meta-old'))!.metadata).toEqual({});
    await registry.shutdown({ graceMs: 0 });
  });
});

describe.each(databaseKinds())('the descriptor migration on %s', (kind) => {
  it('adds the column to tables made by the first migration, keeping their rows', async () => {
    const fresh = await openTestDatabase(kind);
    const options = fresh.dataSource.options;
    const tables = fresh.table('meridian_streams');
    // Back to the first migration only: undo the later ones, newest first (the column and its record).
    for (let n = 1; n < meridianStreamMigrations.length; n++) await fresh.dataSource.undoLastMigration();
    await fresh.dataSource.query(
      `INSERT INTO ${tables} (stream_id, epoch, status, last_sequence, created_at, updated_at, finished_at) VALUES ('old', 'e1', 'running', 0, 0, 0, NULL)`,
    );
    const old = await new DataSource({
      ...options,
      entities: meridianStreamEntities,
      migrations: [CreateMeridianStreamTables1795000000000],
      migrationsRun: false,
    } as typeof options).initialize();
    await expect(old.query(`SELECT descriptor FROM ${tables}`)).rejects.toThrow();
    await old.destroy();

    const upgraded = await new DataSource({
      ...options,
      migrations: meridianStreamMigrations,
      migrationsRun: true,
    } as typeof options).initialize();
    const upgradedStore = new TypeOrmEventStore(upgraded);
    const kept = await upgradedStore.loadMeta('old');
    expect(kept?.epoch).toBe('e1');
    expect(kept?.descriptor).toBeUndefined();
    const registry = new StreamRegistry({ store: upgradedStore, heartbeatMs: 0 });
    const stream = registry.create(undefined, { id: 'new', metadata: { chatId: 'c9' } });
    stream.complete();
    await stream.persist();
    expect((await upgradedStore.loadMeta('new'))?.descriptor?.metadata).toEqual({ chatId: 'c9' });
    await registry.shutdown({ graceMs: 0 });
    await upgraded.destroy();
    await fresh.close();
  });
});
