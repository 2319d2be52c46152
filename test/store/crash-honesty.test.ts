import { firstValueFrom, toArray } from 'rxjs';
import { StreamRegistry, type SseMessage } from 'nestjs-meridian-stream';
import type { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { isStreamEvent } from '../../lib/core/stream-event.js';
import { databaseKinds, useStore } from '../support/databases.js';
import { range } from '../unit/helpers.js';

const STORED = 5;
const SEEN = 8;

/** `admit()` as a promise (it answers at once for a stream held in memory). */
const admitting = async (registry: StreamRegistry, id: string, lastEventId: string) =>
  registry.admit(id, lastEventId, {});

/** Every message a client resuming at `lastEventId` gets until the stream's end. */
async function resumeAt(registry: StreamRegistry, id: string, lastEventId?: string): Promise<SseMessage[]> {
  const admission = await registry.admit(id, lastEventId, {});
  return firstValueFrom(admission.stream.observe(admission.point).pipe(toArray()));
}

describe.each(databaseKinds())('a stream whose process died between two store writes (%s)', (kind) => {
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => ({ store } = opened));

  /** A stream that sent SEEN events to a client and stored only the first STORED, then "died". */
  async function crashed(id: string): Promise<string[]> {
    const dying = new StreamRegistry({ store, heartbeatMs: 0, persistEveryMs: 0, persistEveryEvents: 0 });
    const stream = dying.create(undefined, { id });
    for (const n of range(1, STORED)) stream.send({ type: 'token', data: n });
    await stream.persist();
    for (const n of range(STORED + 1, SEEN)) stream.send({ type: 'token', data: n });
    // No shutdown and no dispose: its process was killed (timers off, nothing else is written).
    return range(1, SEEN).map((n) => stream.eventAt(n)!.id);
  }

  it('continues clients within the stored history, resets those past it, and never reuses a seen id', async () => {
    const seen = await crashed(`crash-${kind}`);
    const [epoch] = seen[0].split('-');
    let finalId: string | undefined;
    const restarted = new StreamRegistry({ store, heartbeatMs: 0 });
    try {
      const whole = await resumeAt(restarted, `crash-${kind}`);
      const events = whole.filter(isStreamEvent);
      expect(events.map((event) => event.sequence)).toEqual(range(1, STORED + 1));
      const final = events.at(-1)!;
      expect(final.type).toBe('error');
      expect(JSON.parse(final.data)).toMatchObject({ status: 'failed', reason: 'interrupted' });
      expect(seen).not.toContain(final.id);
      expect(final.id.startsWith(`${epoch}-`)).toBe(false);
      finalId = final.id;

      for (const point of range(0, SEEN)) {
        const messages = await resumeAt(restarted, `crash-${kind}`, `${epoch}-${point}`);
        const ids = messages.filter(isStreamEvent).map((event) => event.id);
        if (point <= STORED) {
          expect(messages[0]).not.toHaveProperty('type', 'reset');
          expect(ids).toEqual([...seen.slice(point, STORED), final.id]);
        } else {
          expect(messages[0]).toMatchObject({ type: 'reset', id: `${epoch}-0` });
          expect(JSON.parse((messages[0] as { data: string }).data)).toMatchObject({ reason: 'history_lost' });
          expect(ids).toEqual([...seen.slice(0, STORED), final.id]);
        }
      }
      // The final event is the end: 204, as for any finished stream.
      await expect(admitting(restarted, `crash-${kind}`, final.id)).rejects.toMatchObject({ status: 204 });
    } finally {
      await restarted.shutdown({ graceMs: 0 });
    }

    // Brought back again (another instance, or another restart): the same final id.
    const again = new StreamRegistry({ store, heartbeatMs: 0 });
    try {
      const events = (await resumeAt(again, `crash-${kind}`)).filter(isStreamEvent);
      expect(events.map((event) => event.id)).toEqual([...seen.slice(0, STORED), finalId!]);
      // Past the end of the new epoch is still an id the stream never issued.
      const [tailEpoch] = finalId!.split('-');
      await expect(admitting(again, `crash-${kind}`, `${tailEpoch}-${STORED + 2}`)).rejects.toMatchObject({
        status: 400,
      });
    } finally {
      await again.shutdown({ graceMs: 0 });
    }
  });
});
