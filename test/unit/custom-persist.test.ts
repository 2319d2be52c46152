import { isStreamEvent, StreamRegistry, type StreamEvent, type StoredStreamMeta } from '../../lib/index.js';

describe('persistAndClear with a persist function of your own (no store)', () => {
  it('hands it exactly the unwritten events once each, and clears them only after it resolves', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    const written: number[] = [];
    const metas: StoredStreamMeta[] = [];
    let release!: () => void;
    const writer = async (events: readonly StreamEvent[], meta: StoredStreamMeta) => {
      metas.push(meta);
      await new Promise<void>((resolve) => (release = resolve));
      written.push(...events.map((event) => event.sequence));
    };
    for (let i = 0; i < 5; i++) stream.send({ data: i });
    const first = stream.persistAndClear(writer);
    await Promise.resolve();
    stream.send({ data: 5 }); // during the write: stays buffered
    expect(stream.buffered.events).toBe(6);
    release();
    expect(await first).toEqual({ persisted: 5, cleared: 5, persistedThrough: 5 });
    expect(stream.buffered).toMatchObject({ events: 1, firstSequence: 6 });
    expect(metas[0]).toMatchObject({ streamId: stream.id, epoch: stream.epoch, status: 'running', lastSequence: 5 });

    const second = stream.persistAndClear(writer);
    await Promise.resolve();
    release();
    expect(await second).toEqual({ persisted: 1, cleared: 1, persistedThrough: 6 });
    expect(written).toEqual([1, 2, 3, 4, 5, 6]);
    await registry.shutdown({ graceMs: 0 });
  });

  it('keeps everything when the function rejects, and the stream goes on', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    stream.send({ data: 'a' });
    await expect(stream.persistAndClear(() => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(stream.buffered.events).toBe(1);
    expect(stream.persistedThrough).toBe(0);
    stream.send({ data: 'b' });
    stream.complete();
    const seen: number[] = [];
    await new Promise<void>((resolve) =>
      stream.observe(undefined, { heartbeat: false }).subscribe({
        next: (message) => isStreamEvent(message) && seen.push(message.sequence),
        complete: resolve,
      }),
    );
    expect(seen).toEqual([1, 2, 3]);
    await registry.shutdown({ graceMs: 0 });
  });

  it('without a store and without a function, says what to configure', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    stream.send({ data: 1 });
    await expect(stream.persistAndClear()).rejects.toThrow(/no store: configure one, or pass a persist function/);
    await registry.shutdown({ graceMs: 0 });
  });
});
