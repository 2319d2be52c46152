import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import type { StreamEvent } from 'nestjs-meridian-stream';
import { databaseKinds, useStore } from '../support/databases.js';

/** Events of the given data sizes, in order, as the engine hands them to a store. */
function eventsOfSizes(sizes: number[]): StreamEvent[] {
  return sizes.map((size, index) => {
    const data = 'é'.repeat(size / 2);
    return { id: `e-${index + 1}`, type: 'message', data, sequence: index + 1, epoch: 'e', bytes: size };
  });
}

describe.each(databaseKinds())('TypeOrmEventStore.readAfter bounded by bytes (%s)', (kind) => {
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => (store = opened.store));

  beforeAll(async () => {
    // 10 events of 100 KB of two-byte characters: bytes, not characters, must be counted.
    const events = eventsOfSizes(Array.from({ length: 10 }, () => 100_000));
    await store.append({ streamId: 'big', epoch: 'e', status: 'running', lastSequence: 10, finishedAt: null }, events);
  });

  it('stops before the event that would pass maxBytes, counting UTF-8 bytes', async () => {
    const page = await store.readAfter('big', 0, 500, 350_000);
    expect(page.map((event) => event.sequence)).toEqual([1, 2, 3]);
    expect(page.every((event) => Buffer.byteLength(event.data) === 100_000)).toBe(true);
  });

  it('continues after the cursor with the same bound', async () => {
    expect((await store.readAfter('big', 3, 500, 350_000)).map((event) => event.sequence)).toEqual([4, 5, 6]);
    expect((await store.readAfter('big', 9, 500, 350_000)).map((event) => event.sequence)).toEqual([10]);
    expect(await store.readAfter('big', 10, 500, 350_000)).toEqual([]);
  });

  it('always returns the first event, however large', async () => {
    expect((await store.readAfter('big', 0, 500, 1)).map((event) => event.sequence)).toEqual([1]);
  });

  it('still honours the event limit, and reads every column as without maxBytes', async () => {
    const bounded = await store.readAfter('big', 2, 2, 10_000_000);
    expect(bounded).toEqual(await store.readAfter('big', 2, 2));
    expect(bounded.map((event) => event.sequence)).toEqual([3, 4]);
  });
});
