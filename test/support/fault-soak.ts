import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSampleProcess, type SampleProcess } from './fault-process.js';
import { temporarySqliteUrl } from './sample-app.js';
import { followUntilFinal, isFinal, RawSseClient, sequenceOf, type SseFrame } from './fault-sse.js';
import { mulberry32 } from './prng.js';

/*
 * The soak (issue 7): the built sample app as its own process (--expose-gc), `streams` streams
 * running (each followed whole by a watcher, which starts its successor when it finishes; the
 * watchers are the only clients left during the paused samples), `connections` clients opening and
 * closing connections in churn for `cycles` connection cycles in total, each resuming with its
 * Last-Event-ID, some of them from the database after persist-and-clear. Every connection's
 * events are checked (exactly the continuation of the client's last id), and so is every whole
 * stream (by its watcher). Heap and RSS after GC are sampled at the start, at 10%, 50% and 100%
 * of the load (paused: only the watchers connected), and once every stream has drained; active
 * resources (sockets, timers) and the registry's clients and streams must be back where they
 * started. Used by bench/soak.ts (full size) and test/soak/soak.test.ts (scaled down).
 */

const MiB = 1024 * 1024;

export interface SoakOptions {
  /** Streams running at any time. */
  readonly streams: number;
  /** Client connections open at once (each closes and reopens). */
  readonly connections: number;
  /** Connection cycles in total. */
  readonly cycles: number;
  /** Events of each stream before its `done`; it is then replaced by a new one. */
  readonly streamEvents: number;
  readonly streamIntervalMs: number;
  /** How long a connection stays open, at random in [min, max] ms (unless its stream ends first). */
  readonly holdMs: readonly [number, number];
  /**
   * Connection attempts in flight at once (waiting for their answer). Above the server's listen
   * backlog (511 in Node) a burst of attempts overflows it and the kernel drops SYNs, which
   * clients retry after 1, 3, 7... s: pacing keeps the figures about the server, not about SYN
   * retransmission. Default 256.
   */
  readonly maxConnecting?: number;
  /** Share of connections closed by the client before the answer arrives (0 to 1). */
  readonly abandonShare: number;
  /** A client waits this long, at random in [min, max] ms, before it reconnects (events pile up meanwhile). */
  readonly pauseMs: readonly [number, number];
  /** A persist-and-clear of a random stream this often, so that some clients catch up from the database. */
  readonly persistAndClearEveryMs: number;
  readonly heartbeatMs: number;
  readonly retentionMs: number;
  /**
   * Allowed growth, in MiB, of heapUsed after GC (start to end, and 10% to 100% of the load) and
   * of RSS (10% of the load to the end).
   */
  readonly heapToleranceMiB: number;
  readonly rssToleranceMiB: number;
  /** Gives up (fails) when the cycles are not done by then. */
  readonly maxDurationMs: number;
  /** Quiet time before each memory sample, for closed sockets to go. Default 1000 ms. */
  readonly settleMs?: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Where to write the app's output (stdout and stderr) at the end, e.g. for a failed run. */
  readonly appOutputFile?: string;
}

export interface MemorySample {
  readonly label: string;
  readonly atCycle: number;
  readonly heapUsed: number;
  readonly rss: number;
  readonly external: number;
  readonly clients: number;
  readonly streams: number;
  readonly bufferedBytes: number;
  readonly resources: Record<string, number>;
}

export interface SoakReport {
  readonly ok: boolean;
  /** Why it is not ok. */
  readonly failures: string[];
  readonly cycles: number;
  readonly durationMs: number;
  readonly eventsReceived: number;
  readonly connectionsRefused: number;
  readonly statuses: Record<string, number>;
  readonly samples: MemorySample[];
  readonly serverStats: Record<string, unknown>;
  readonly markdown: string;
  /** Where the resource counts came from: the app's GET /stats, or the preloaded probe. */
  readonly resourcesFrom: 'stats' | 'probe';
}

/**
 * One of the `streams` running streams: a watcher follows it from its first event to its final
 * one (checking the whole sequence), then starts its successor.
 */
interface Lane {
  current: string;
  /** The successor being created, if any. */
  creating: Promise<string> | undefined;
}

interface StatsBody {
  clients: number;
  streams: number;
  bufferedBytes: number;
  byState: Record<string, number>;
  streamsCreated: number;
  slowClientDisconnects: number;
  catchup: Record<string, number>;
  memory: NodeJS.MemoryUsage;
  resources?: Record<string, number>;
}

/** A request of its own (no keep-alive socket left open in the app). */
function request(url: string, method = 'GET', body?: object): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          connection: 'close',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The kernel's count of connections dropped from full listen queues (Linux, machine-wide), if readable. */
function listenOverflows(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const header = lines.find((line) => line.startsWith('TcpExt:'))!.split(/\s+/);
    const values = lines.filter((line) => line.startsWith('TcpExt:'))[1].split(/\s+/);
    const value = Number(values[header.indexOf('ListenOverflows')]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** At most `limit` holders at once; the others wait in order. */
function semaphore(limit: number): { acquire(): Promise<void>; release(): void } {
  let free = limit;
  const waiting: (() => void)[] = [];
  return {
    acquire: () => {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release: () => {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

// eslint-disable-next-line no-control-regex
const stripColors = (line: string) => line.replace(/\x1b\[[0-9;]*m/g, '');

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const random = mulberry32(options.seed ?? 1);
  const between = ([min, max]: readonly [number, number]) => min + Math.floor(random() * (max - min + 1));
  const sqlite = temporarySqliteUrl();
  const failures: string[] = [];
  const violations: string[] = [];
  const statuses: Record<string, number> = {};
  const samples: MemorySample[] = [];
  let app: SampleProcess | undefined;
  let cyclesStarted = 0;
  let cyclesDone = 0;
  let eventsReceived = 0;
  let connectionsRefused = 0;
  let resourcesFrom: 'stats' | 'probe' = 'probe';
  /** Time to the response head, per connection that got one. */
  const ttfb: number[] = [];
  const started = Date.now();
  const overflowsBefore = listenOverflows();
  let stopping = false;
  try {
    app = await startSampleProcess({
      env: {
        DATABASE_URL: sqlite.url,
        HEARTBEAT_MS: String(options.heartbeatMs),
        RETENTION_MS: String(options.retentionMs),
        SHUTDOWN_GRACE_MS: '2000',
      },
      nodeArgs: ['--expose-gc'],
      probe: true,
    });
    const base = app.baseUrl;
    app.process.once('exit', (code, signal) => {
      if (!stopping)
        log(`the app exited during the run (${code ?? signal}); its last output:\n${app!.output().slice(-2_000)}`);
    });
    const stats = async () => (await request(`${base}/stats`)).body as StatsBody;

    const sample = async (label: string): Promise<MemorySample> => {
      // Let closed sockets and the requests of the previous sample go away first.
      await sleep(options.settleMs ?? 1_000);
      const body = (await request(`${base}/stats?gc=1`)).body as StatsBody;
      await sleep(200);
      const probe = await app!.probe();
      // The probe's own IPC channel is one PipeWrap; the app's own count, when it has one, is preferred.
      const resources = body.resources ? { ...body.resources } : { ...probe.resources };
      resourcesFrom = body.resources ? 'stats' : 'probe';
      if (!body.resources && resources.PipeWrap) resources.PipeWrap--;
      const taken: MemorySample = {
        label,
        atCycle: cyclesDone,
        heapUsed: probe.memory.heapUsed,
        rss: probe.memory.rss,
        external: probe.memory.external,
        clients: body.clients,
        streams: body.streams,
        bufferedBytes: body.bufferedBytes,
        resources,
      };
      samples.push(taken);
      log(
        `sample ${label} at cycle ${cyclesDone}: heap ${mib(taken.heapUsed)} MiB, rss ${mib(taken.rss)} MiB, clients ${taken.clients}, streams ${taken.streams}, resources ${JSON.stringify(resources)}`,
      );
      return taken;
    };

    await sample('start');

    const createOne = async (): Promise<string> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await request(`${base}/streams`, 'POST', {
            events: options.streamEvents,
            intervalMs: options.streamIntervalMs,
            size: 64,
          });
          if (response.status !== 201) throw new Error(`POST /streams answered ${response.status}`);
          return (response.body as { stream_id: string }).stream_id;
        } catch (error) {
          if (attempt >= 5) throw error;
          log(`POST /streams failed (${(error as Error).message}); retrying`);
          await sleep(200 * attempt);
        }
      }
    };
    const lanes: Lane[] = [];
    for (let i = 0; i < options.streams; i++) lanes.push({ current: await createOne(), creating: undefined });
    let streamsFollowed = 0;

    /** The whole sequence of a stream, from its first event to exactly one final event. */
    const checkWhole = (streamId: string, events: readonly SseFrame[]) => {
      const wrong = events.findIndex((event, index) => sequenceOf(event.id) !== index + 1 || event.event === 'reset');
      const finals = events.filter((event) => isFinal(event)).length;
      if (wrong >= 0 || finals !== 1 || !isFinal(events.at(-1))) {
        violations.push(`watcher of ${streamId}: ${events.length} events, first wrong at ${wrong}, ${finals} final(s)`);
      }
    };
    const watchers = lanes.map(async (lane) => {
      for (;;) {
        const streamId = lane.current;
        const whole = await followUntilFinal(() => `${base}/streams/${streamId}`, {
          retryMs: 200,
          deadlineMs: options.streamEvents * options.streamIntervalMs + options.maxDurationMs,
        }).catch((error: Error) => {
          violations.push(`watcher of ${streamId}: ${error.message}`);
          return undefined;
        });
        if (whole) checkWhole(streamId, whole.events);
        streamsFollowed++;
        if (stopping || !whole) return;
        lane.creating = createOne();
        try {
          lane.current = await lane.creating;
        } catch (error) {
          failures.push(`starting a stream failed: ${(error as Error).message}`);
          stopping = true;
          return;
        } finally {
          lane.creating = undefined;
        }
      }
    });

    let gate: Promise<void> | undefined;
    const connecting = semaphore(options.maxConnecting ?? 256);
    let openConnections = 0;
    const pausePoints = [
      { at: Math.floor(options.cycles * 0.1), label: 'warm (10%)' },
      { at: Math.floor(options.cycles * 0.5), label: 'middle (50%)' },
    ];

    const persister = (async () => {
      while (!stopping) {
        await sleep(options.persistAndClearEveryMs);
        if (stopping || gate) continue;
        const lane = lanes[Math.floor(random() * lanes.length)];
        await request(`${base}/streams/${lane.current}/persist`, 'POST').catch(() => undefined);
      }
    })();

    /** One client: a connection after another on its lane's current stream, checked each time. */
    const slot = async (index: number): Promise<void> => {
      const lane = lanes[index % lanes.length];
      let streamId = lane.current;
      let cursor = 0;
      let epoch = '';
      while (!stopping) {
        while (gate) await gate;
        if (cyclesStarted >= options.cycles) return;
        cyclesStarted++;
        const lastEventId = cursor > 0 ? `${epoch}-${cursor}` : undefined;
        await connecting.acquire();
        openConnections++;
        const client = new RawSseClient(`${base}/streams/${streamId}`, lastEventId);
        let answered = false;
        const answer = () => {
          if (answered) return;
          answered = true;
          connecting.release();
        };
        const unanswered = setTimeout(() => {
          if (client.headersAt !== undefined) return;
          violations.push(`client ${index} on ${streamId}: no answer within 30 s`);
          client.reset();
        }, 30_000);
        const roll = random();
        const close = () => (roll < 0.5 ? client.reset() : client.close());
        const hold = between(options.holdMs);
        let timer: NodeJS.Timeout | undefined;
        if (random() < options.abandonShare) {
          // Abandoned before the answer: closed at once, whatever the server is doing.
          timer = setTimeout(close, Math.floor(random() * 5));
        }
        client.onChunk = (c) => {
          answer();
          // Held from the moment the answer arrives, until its stream ends.
          if (!timer) timer = setTimeout(close, hold);
          if (isFinal(c.events.at(-1))) clearTimeout(timer);
        };
        await client.done;
        answer();
        clearTimeout(timer);
        clearTimeout(unanswered);
        openConnections--;
        cyclesDone++;
        statuses[client.status] = (statuses[client.status] ?? 0) + 1;
        if (client.status === 0) connectionsRefused++;
        else ttfb.push(client.headersAt! - client.openedAt);
        // Exactly the continuation of the cursor: no gap, no duplicate, no reset.
        let expected = cursor + 1;
        for (const event of client.events) {
          const sequence = sequenceOf(event.id);
          if (event.event === 'reset' || sequence !== expected) {
            violations.push(`client ${index} on ${streamId}: expected ${expected}, got ${event.event} ${event.id}`);
            break;
          }
          expected++;
        }
        eventsReceived += client.events.length;
        const last = client.events.at(-1);
        if (last) {
          cursor = sequenceOf(last.id);
          epoch = last.id!.split('-')[0];
        } else if (client.lastEventId && cursor === 0) {
          epoch = client.lastEventId.split('-')[0];
        }
        if (isFinal(last) || client.status === 204) {
          // On to the lane's next stream, once its watcher has started it.
          while (lane.current === streamId && !stopping) await sleep(50);
          streamId = lane.current;
          cursor = 0;
        } else if (client.status !== 200 && client.status !== 0) {
          violations.push(`client ${index} on ${streamId}: status ${client.status}`);
        }
        for (const point of pausePoints) {
          if (cyclesDone >= point.at && !('taken' in point)) {
            Object.assign(point, { taken: true });
            let release!: () => void;
            gate = new Promise((resolve) => (release = resolve));
            void (async () => {
              while (openConnections > 0) await sleep(50);
              await sample(point.label).catch((error: Error) =>
                failures.push(`sample ${point.label}: ${error.message}`),
              );
              gate = undefined;
              release();
            })();
          }
        }
        await sleep(between(options.pauseMs));
      }
    };

    const deadline = setTimeout(() => {
      failures.push(`the cycles were not done within ${options.maxDurationMs} ms (${cyclesDone} done)`);
      stopping = true;
    }, options.maxDurationMs);
    const progress = setInterval(() => {
      log(`${cyclesDone} cycles, ${openConnections} open, ${eventsReceived} events, ${violations.length} violations`);
    }, 10_000);
    await Promise.all(Array.from({ length: options.connections }, (_, index) => slot(index)));
    clearTimeout(deadline);
    clearInterval(progress);
    stopping = true;
    await persister;
    const loadEndedAt = Date.now();
    await sample('end of load (100%)');

    // Drain: cancel what still runs (its watcher then gets `cancelled` and stops); every stream
    // expires after its retention.
    for (const lane of lanes) {
      await lane.creating?.catch(() => undefined);
      await request(`${base}/streams/${lane.current}`, 'DELETE').catch(() => undefined);
    }
    await Promise.all(watchers);
    const drainDeadline = Date.now() + options.retentionMs + 15_000;
    let drained = await stats();
    while ((drained.streams > 0 || drained.clients > 0) && Date.now() < drainDeadline) {
      await sleep(250);
      drained = await stats();
    }
    const end = await sample('end (drained)');
    const serverStats = (await stats()) as unknown as Record<string, unknown>;

    // Verdicts.
    const start = samples[0];
    const warm = samples.find((s) => s.label.startsWith('warm'))!;
    const loaded = samples.find((s) => s.label.startsWith('end of load'))!;
    if (violations.length > 0)
      failures.push(`${violations.length} connection(s) not exactly continuing: ${violations.slice(0, 3).join('; ')}`);
    if (cyclesDone < options.cycles) failures.push(`only ${cyclesDone} of ${options.cycles} cycles done`);
    if (app.process.exitCode !== null || app.process.signalCode !== null) {
      failures.push(
        `the app exited (${app.process.exitCode ?? app.process.signalCode}):\n${app.output().slice(-3_000)}`,
      );
    }
    const appErrors = app
      .output()
      .split('\n')
      .filter((line) => /\bERROR\b/.test(line));
    if (appErrors.length > 0) {
      failures.push(`the app logged ${appErrors.length} error(s), first: ${stripColors(appErrors[0])}`);
    }
    if (end.clients !== 0) failures.push(`registry clients at the end: ${end.clients} (expected 0)`);
    // While the churn was paused only the watchers (one per running stream) were connected.
    for (const paused of samples.slice(1, -1)) {
      if (paused.clients > options.streams) {
        failures.push(
          `registry clients at "${paused.label}": ${paused.clients}, with only ${options.streams} watchers connected`,
        );
      }
    }
    if (end.streams !== 0) failures.push(`registry streams at the end: ${end.streams} (expected 0: all drained)`);
    for (const [kind, count] of Object.entries(end.resources)) {
      const before = start.resources[kind] ?? 0;
      if (count > before) failures.push(`active ${kind}: ${count} at the end, ${before} at the start`);
    }
    const heapGrowth = (end.heapUsed - start.heapUsed) / MiB;
    // RSS against the 10% sample: by then the process has held the full churn once, and the
    // allocator keeps pages it got then; growth after that is what a leak would show.
    const rssGrowth = (end.rss - warm.rss) / MiB;
    const heapUnderLoad = (loaded.heapUsed - warm.heapUsed) / MiB;
    if (heapGrowth > options.heapToleranceMiB) {
      failures.push(
        `heap grew ${heapGrowth.toFixed(1)} MiB from start to end (tolerance ${options.heapToleranceMiB} MiB)`,
      );
    }
    if (heapUnderLoad > options.heapToleranceMiB) {
      failures.push(
        `heap grew ${heapUnderLoad.toFixed(1)} MiB from 10% to 100% of the load (tolerance ${options.heapToleranceMiB} MiB)`,
      );
    }
    if (rssGrowth > options.rssToleranceMiB) {
      failures.push(
        `RSS grew ${rssGrowth.toFixed(1)} MiB from 10% of the load to the end (tolerance ${options.rssToleranceMiB} MiB)`,
      );
    }
    const durationMs = loadEndedAt - started;
    ttfb.sort((a, b) => a - b);
    const percentile = (p: number) => ttfb[Math.min(ttfb.length - 1, Math.floor(p * ttfb.length))] ?? 0;
    log(`${streamsFollowed} streams followed whole by their watchers`);
    const overflowsAfter = listenOverflows();
    const markdown = renderMarkdown({
      options,
      listenOverflows:
        overflowsBefore === undefined || overflowsAfter === undefined ? undefined : overflowsAfter - overflowsBefore,
      streamsFollowed,
      ttfb: { p50: percentile(0.5), p99: percentile(0.99), max: ttfb.at(-1) ?? 0 },
      cycles: cyclesDone,
      durationMs,
      eventsReceived,
      statuses,
      samples,
      serverStats,
      failures,
      resourcesFrom,
    });
    return {
      ok: failures.length === 0,
      failures,
      cycles: cyclesDone,
      durationMs,
      eventsReceived,
      connectionsRefused,
      statuses,
      samples,
      serverStats,
      markdown,
      resourcesFrom,
    };
  } finally {
    await app?.stop('SIGTERM');
    if (app && options.appOutputFile) writeFileSync(options.appOutputFile, app.output());
    sqlite.remove();
  }
}

function renderMarkdown(report: {
  options: SoakOptions;
  listenOverflows: number | undefined;
  streamsFollowed: number;
  ttfb: { p50: number; p99: number; max: number };
  cycles: number;
  durationMs: number;
  eventsReceived: number;
  statuses: Record<string, number>;
  samples: MemorySample[];
  serverStats: Record<string, unknown>;
  failures: string[];
  resourcesFrom: 'stats' | 'probe';
}): string {
  const { options, samples, serverStats } = report;
  const start = samples[0];
  const lines: string[] = [];
  lines.push(
    `Soak: ${options.streams} streams, ${options.connections} connections in churn, ${report.cycles.toLocaleString('en')} connection cycles in ${(report.durationMs / 1000).toFixed(0)} s (${Math.round(report.cycles / (report.durationMs / 1000))} cycles/s); node ${process.version}.`,
    '',
    '| sample | at cycle | heap used (after GC) | vs start | RSS | vs start | clients | streams | buffered |',
    '| ------ | -------: | -------------------: | -------: | --: | -------: | ------: | ------: | -------: |',
  );
  for (const s of samples) {
    lines.push(
      `| ${s.label} | ${s.atCycle.toLocaleString('en')} | ${mib(s.heapUsed)} MiB | ${signed((s.heapUsed - start.heapUsed) / MiB)} MiB | ${mib(s.rss)} MiB | ${signed((s.rss - start.rss) / MiB)} MiB | ${s.clients} | ${s.streams} | ${mib(s.bufferedBytes)} MiB |`,
    );
  }
  const end = samples.at(-1)!;
  const kinds = [...new Set([...Object.keys(start.resources), ...Object.keys(end.resources)])].sort();
  lines.push(
    '',
    `Active resources (process.getActiveResourcesInfo(), from ${report.resourcesFrom === 'stats' ? 'GET /stats' : 'a preloaded probe'}):`,
    '',
    `| resource | start | end |`,
    `| -------- | ----: | --: |`,
    ...kinds.map((kind) => `| ${kind} | ${start.resources[kind] ?? 0} | ${end.resources[kind] ?? 0} |`),
  );
  const catchup = serverStats.catchup as Record<string, number> | undefined;
  lines.push(
    '',
    '| figure | value |',
    '| ------ | ----: |',
    `| events received by clients | ${report.eventsReceived.toLocaleString('en')} |`,
    `| time to the response head: p50 / p99 / max (client and server share the machine) | ${report.ttfb.p50} / ${report.ttfb.p99} / ${report.ttfb.max} ms |`,
    `| listen queue overflows during the run (kernel, whole machine) | ${report.listenOverflows ?? 'n/a'} |`,
    `| answers by status | ${Object.entries(report.statuses)
      .map(([status, count]) => `${status === '0' ? 'none (closed before the answer)' : status}: ${count}`)
      .join(', ')} |`,
    `| streams created / followed whole by a watcher | ${String(serverStats.streamsCreated)} / ${report.streamsFollowed} |`,
    `| clients attached (server) | ${String(serverStats.clientsAttached)} |`,
    `| catch-up: live / buffer / store / reset | ${catchup ? `${catchup.live} / ${catchup.buffer} / ${catchup.store} / ${catchup.reset}` : '-'} |`,
    `| slow-client disconnects | ${String(serverStats.slowClientDisconnects)} |`,
    `| tolerance: heap growth (start to end, 10% to 100%) / RSS growth (10% to end) | ${options.heapToleranceMiB} MiB / ${options.rssToleranceMiB} MiB |`,
    `| verdict | ${report.failures.length === 0 ? 'ok' : `FAILED: ${report.failures.join('; ')}`} |`,
  );
  return lines.join('\n');
}

const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
