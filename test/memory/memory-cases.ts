import { DEFAULT_STREAM_OPTIONS } from '../../lib/core/options.js';
import {
  createStream,
  deleteStream,
  growth,
  liveMemory,
  MiB,
  mib,
  persistAndClear,
  readToFinalEvent,
  serverStats,
  settledLiveMemory,
  StalledReader,
  startMemoryServer,
  waitFor,
  type AdapterName,
  type MemoryServer,
  type PipelineName,
} from './memory-server.js';

/*
 * The two cases of issue 20 (memory denial of service), each run on the direct path and on
 * `pipeline: 'nest'`, on a server process of its own started with --expose-gc (see
 * startMemoryServer): the built sample app for the direct path, the sample app's module plus a
 * `pipeline: 'nest'` route for the Nest pipeline, both with the library's default options and a
 * SQLite store. Live memory is heapUsed + arrayBuffers of the server after forced GCs. The
 * *.test.ts files of this folder call these once per HTTP adapter.
 */

const PIPELINES: PipelineName[] = ['direct', 'nest'];
const BUFFER_MAX_BYTES = DEFAULT_STREAM_OPTIONS.bufferMaxBytes;

/** A server per pipeline for the tests of one describe, warmed up: a small stream read, stored, read from the store, deleted. */
function useServer(adapter: AdapterName, pipeline: PipelineName): () => MemoryServer {
  let server: MemoryServer | undefined;
  beforeAll(async () => {
    server = await startMemoryServer(adapter, pipeline);
    const warm = await createStream(server, { events: 3, intervalMs: 0, size: 1_000 });
    await readToFinalEvent(server, warm);
    await persistAndClear(server, warm);
    await readToFinalEvent(server, warm);
    await deleteStream(server, warm);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => server!;
}

/**
 * Case 1: events dropped from the replay buffer leave memory. One stream of 300 events of about
 * 1 MB, read to its final `done` event by one client: live memory grows by at most
 * 2 x bufferMaxBytes + 16 MiB (stats() counts at most bufferMaxBytes buffered), and is back within
 * bufferMaxBytes + 16 MiB of the start after persist-and-clear and DELETE.
 */
export function bigEventsSuite(adapter: AdapterName): void {
  const EVENTS = 300;
  const SIZE = 1_000_000;
  const FINISHED_LIMIT = 2 * BUFFER_MAX_BYTES + 16 * MiB;
  const RELEASED_LIMIT = BUFFER_MAX_BYTES + 16 * MiB;

  describe.each(PIPELINES)(`issue 20: a stream of 300 events of 1 MB (${adapter}, %s pipeline)`, (pipeline) => {
    const server = useServer(adapter, pipeline);

    it('grows live memory by at most 2 x bufferMaxBytes + 16 MiB, and is back near the start after persist-and-clear and DELETE', async () => {
      const app = server();
      const baseline = await liveMemory(app);
      const id = await createStream(app, { events: EVENTS, intervalMs: 5, size: SIZE });
      const read = await readToFinalEvent(app, id);
      expect(read).toMatchObject({ finalType: 'done', textDeltas: EVENTS });
      const finished = await liveMemory(app);
      const { bufferedBytes } = await serverStats(app);
      await persistAndClear(app, id);
      await deleteStream(app, id);
      const released = await liveMemory(app);

      const figures =
        `finished stream ${growth(baseline, finished)} with stats() bufferedBytes ${mib(bufferedBytes)} MiB ` +
        `(read in ${read.connections} connection(s)); after persist-and-clear and DELETE ${growth(baseline, released)}`;
      console.log(`issue 20 big events, ${adapter} ${pipeline}: baseline ${mib(baseline.bytes)} MiB; ${figures}`);
      const problems: string[] = [];
      if (finished.bytes - baseline.bytes > FINISHED_LIMIT) {
        problems.push(
          `live memory grew by ${mib(finished.bytes - baseline.bytes)} MiB with the finished stream ` +
            `(stats() says ${mib(bufferedBytes)} MiB buffered), more than 2 x bufferMaxBytes + 16 MiB = ${mib(FINISHED_LIMIT)} MiB`,
        );
      }
      if (released.bytes - baseline.bytes > RELEASED_LIMIT) {
        problems.push(
          `live memory was still ${mib(released.bytes - baseline.bytes)} MiB above the start after persist-and-clear ` +
            `and DELETE, more than bufferMaxBytes + 16 MiB = ${mib(RELEASED_LIMIT)} MiB`,
        );
      }
      if (problems.length > 0) problems.push(`measured: ${figures}`);
      expect(problems).toEqual([]);
    }, 90_000);
  });
}

/**
 * Case 2: a client catching up from the store that stops reading holds about one page of
 * history, not a page of up to historyPageSize events. A stream of 300 events of 200 KB,
 * finished, then persisted and cleared (nothing left in memory: a client from the start is
 * served from the store). Ten raw HTTP clients read the response head and the start of the
 * first event, then stop reading: together they hold at most 80 MiB of live memory (measured
 * once it stops moving), and memory is back within 16 MiB once they are gone.
 */
export function stalledReadersSuite(adapter: AdapterName): void {
  const EVENTS = 300;
  const SIZE = 200_000;
  const READERS = 10;
  const HELD_LIMIT = 80 * MiB;
  const RELEASED_LIMIT = 16 * MiB;

  describe.each(PIPELINES)(
    `issue 20: ten stalled catch-up readers of a stored stream of 300 events of 200 KB (${adapter}, %s pipeline)`,
    (pipeline) => {
      const server = useServer(adapter, pipeline);

      it('hold at most 80 MiB of live memory together, and memory comes back once they are gone', async () => {
        const app = server();
        const start = await liveMemory(app);
        const id = await createStream(app, { events: EVENTS, intervalMs: 0, size: SIZE });
        expect(await readToFinalEvent(app, id)).toMatchObject({ finalType: 'done', textDeltas: EVENTS });
        await persistAndClear(app, id);
        const before = await serverStats(app);
        expect(before.bufferedEvents).toBe(0);
        const baseline = await liveMemory(app);

        const readers = await Promise.all(
          Array.from({ length: READERS }, () => StalledReader.open(app, app.ssePath(id))),
        );
        await waitFor(async () => (await serverStats(app)).clients === READERS, `${READERS} clients attached`);
        const held = await settledLiveMemory(app);
        const during = await serverStats(app);
        for (const reader of readers) reader.close();
        await waitFor(async () => (await serverStats(app)).clients === 0, 'the clients gone');
        const released = await liveMemory(app);

        const fromStore = during.catchup.store - before.catchup.store;
        const bytesRead = readers.reduce((sum, reader) => sum + reader.bytesRead, 0);
        const figures =
          `${READERS} stalled readers ${growth(baseline, held)} (${during.clients} attached, ${fromStore} caught up ` +
          `from the store, ${mib(bytesRead)} MiB read by them); after they left ${growth(baseline, released)}`;
        console.log(
          `issue 20 stalled readers, ${adapter} ${pipeline}: start ${mib(start.bytes)} MiB, ` +
            `after the stream was persisted and cleared ${mib(baseline.bytes)} MiB; ${figures}`,
        );
        // The premise: every reader is still attached, and was served from the store.
        expect({ attached: during.clients, fromStore }).toEqual({ attached: READERS, fromStore: READERS });
        const problems: string[] = [];
        if (held.bytes - baseline.bytes > HELD_LIMIT) {
          problems.push(
            `live memory grew by ${mib(held.bytes - baseline.bytes)} MiB with ${READERS} stalled catch-up readers, ` +
              `more than ${mib(HELD_LIMIT)} MiB`,
          );
        }
        if (released.bytes - baseline.bytes > RELEASED_LIMIT) {
          problems.push(
            `live memory was still ${mib(released.bytes - baseline.bytes)} MiB above the start once the readers ` +
              `left, more than ${mib(RELEASED_LIMIT)} MiB`,
          );
        }
        if (problems.length > 0) problems.push(`measured: ${figures}`);
        expect(problems).toEqual([]);
      }, 90_000);
    },
  );
}
