import { resolveStreamOptions } from '../../lib/core/options.js';
import { FollowedStream } from '../../lib/core/followed-stream.js';
import { SILENT_LOGGER } from '../../lib/core/logger.js';
import { isStreamEvent, type SseMessage } from '../../lib/index.js';

const hooks = { logger: SILENT_LOGGER, onFinish: () => undefined, onClientEnd: () => undefined };
const follower = () =>
  new FollowedStream('f', resolveStreamOptions({ heartbeatMs: 0 }), hooks, {
    kind: 'follower',
    epoch: 'abc',
    startAfter: 0,
    persistedThrough: 0,
  });
const bus = (sequence: number, final?: 'completed') => ({ sequence, type: 'message', data: String(sequence), final });

describe('a follower whose bus lost events (no store)', () => {
  it('cuts clients that need the lost events; on reconnect they get a reset, then what follows', () => {
    const stream = follower();
    for (let n = 1; n <= 5; n++) stream.ingest(bus(n));
    const seen: SseMessage[] = [];
    let ended = false;
    stream
      .observe(undefined, { heartbeat: false })
      .subscribe({ next: (m) => seen.push(m), complete: () => (ended = true) });
    expect(seen.filter(isStreamEvent).map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    stream.ingest(bus(9));
    // Never handed 9 after 5: cut instead.
    expect(seen.filter(isStreamEvent).map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(ended).toBe(true);
    stream.ingest(bus(10, 'completed'));
    const again: SseMessage[] = [];
    stream.observe('abc-5', { heartbeat: false }).subscribe({ next: (m) => again.push(m) });
    expect(again[0]).toMatchObject({ type: 'reset', id: 'abc-8' });
    expect(JSON.parse((again[0] as { data: string }).data)).toMatchObject({
      reason: 'history_truncated',
      resumesAfter: 'abc-8',
    });
    expect(again.filter(isStreamEvent).map((e) => e.sequence)).toEqual([9, 10]);
    expect(stream.state).toBe('completed');
  });

  it('ignores events it already has', () => {
    const stream = follower();
    stream.ingest(bus(1));
    stream.ingest(bus(2));
    stream.ingest(bus(1));
    stream.ingest(bus(2));
    expect(stream.lastSequence).toBe(2);
    expect(stream.buffered.events).toBe(2);
  });
});
