import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import type { BusEvent } from 'nestjs-meridian-stream';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

describeIfRedis('RedisStreamBus.follow() holds a bounded number of events at a time', () => {
  it('delivers a backlog in runs of at most batchEvents events, in order, up to the final one', async () => {
    const keyPrefix = uniquePrefix();
    const producer = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
    const follower = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
    try {
      const lostEvent = { type: 'error', data: '{}' };
      await producer.open('big', 'e', { stored: false, lostEvent, retentionMs: 1_000 });
      const total = 40;
      for (let sequence = 1; sequence <= total; sequence++) {
        const data = String(sequence).padEnd(50_000, '.');
        const final = sequence === total ? ('completed' as const) : undefined;
        expect(await producer.append('big', [{ sequence, type: 'message', data, final }])).toEqual({ accepted: true });
      }
      // Every event is in Redis before the follower starts: one read could take them all.

      const runs: number[] = [];
      const sequences: number[] = [];
      let run = 0;
      const finished = new Promise<void>((resolve) => {
        follower.follow('big', 0, {
          event: (event: BusEvent) => {
            // Events of one reply are handed over in one synchronous run.
            if (run++ === 0) queueMicrotask(() => (runs.push(run), (run = 0)));
            sequences.push(event.sequence);
            if (event.final) resolve();
          },
          gap: () => undefined,
          batchEvents: 4,
        });
      });
      await finished;
      await new Promise((resolve) => setImmediate(resolve));
      expect(sequences).toEqual(Array.from({ length: total }, (_, index) => index + 1));
      expect(runs.reduce((sum, size) => sum + size, 0)).toBe(total);
      expect(Math.max(...runs)).toBeLessThanOrEqual(4);
    } finally {
      producer.close('big', 1_000);
      await follower.shutdown();
      await producer.shutdown();
    }
  });
});
