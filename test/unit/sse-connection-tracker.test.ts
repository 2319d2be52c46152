import { EventEmitter } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SseConnectionTracker } from '../../lib/nest/sse-connection-tracker.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/spawned-app.js';

/** A real server whose every response is left open, as an SSE response is, and handed to the test. */
async function openResponses(): Promise<{
  port: number;
  responses: ServerResponse[];
  /** Connects `count` clients; resolves with them and their responses once all arrived. */
  connect(count: number): Promise<{ clients: http.ClientRequest[]; responses: ServerResponse[] }>;
  close(): Promise<void>;
}> {
  const responses: ServerResponse[] = [];
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(': open\n\n');
    responses.push(response);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  // Clients are cut on purpose: a reset is what the test makes, not a failure.
  const ignore = () => undefined;
  const get = () =>
    http
      .get({ host: '127.0.0.1', port, agent: false }, (response) => response.on('error', ignore).resume())
      .on('error', ignore);
  return {
    port,
    responses,
    connect: async (count) => {
      const before = responses.length;
      const clients = Array.from({ length: count }, get);
      await eventually(() => responses.length === before + count);
      return { clients, responses: responses.slice(before) };
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** What the tracker holds, swept or not: its internal list. */
function heldBy(tracker: SseConnectionTracker): unknown[] {
  return (tracker as unknown as { open: unknown[] }).open;
}

describe('SseConnectionTracker', () => {
  let server: Awaited<ReturnType<typeof openResponses>>;
  let tracker: SseConnectionTracker;
  beforeEach(async () => {
    server = await openResponses();
    tracker = new SseConnectionTracker();
  });
  afterEach(() => server.close());

  test('counts only responses still open, and lets go of those that ended without a listener per socket', async () => {
    const { clients } = await server.connect(300);
    const socket = server.responses[0]!.socket!;
    const listeners = socket.listenerCount('close');
    for (const response of server.responses) tracker.track(response);
    expect(tracker.size).toBe(300);
    expect(socket.listenerCount('close')).toBe(listeners);

    for (const client of clients.slice(0, 299)) client.destroy();
    await eventually(() => server.responses.slice(0, 299).every((response) => response.destroyed));
    expect(tracker.size).toBe(1);

    // Responses that end are dropped in a sweep once the set has doubled since the last one:
    // what it holds stays within twice the most ever open at once (101 here) or a floor of 64,
    // however many came and went (601).
    for (let round = 0; round < 5; round++) {
      const batch = await server.connect(100);
      for (const response of batch.responses) tracker.track(response);
      for (const client of batch.clients) client.destroy();
      await eventually(() => batch.responses.every((response) => response.destroyed));
    }
    const held = heldBy(tracker).length;
    expect(held).toBeLessThanOrEqual(2 * 101);
    expect(tracker.size).toBe(1);
  });

  test('closeAll() waits for responses to end, then cuts the sockets of those that did not', async () => {
    const [ending, stalled] = (await server.connect(2)).responses as [ServerResponse, ServerResponse];
    tracker.track(ending);
    tracker.track(stalled);
    setTimeout(() => ending.end(), 50);

    const cut = await tracker.closeAll(300);

    expect(cut).toBe(1);
    expect(ending.writableFinished).toBe(true);
    expect(stalled.socket?.destroyed ?? stalled.destroyed).toBe(true);
    expect(tracker.size).toBe(0);
  });

  test('closeAll() looks at each open response a fixed number of times, however long the grace period', async () => {
    // Responses that never end, each counting how often their state is read.
    let reads = 0;
    class Response extends EventEmitter {
      destroyed = false;
      get writableFinished(): boolean {
        reads++;
        return false;
      }
      getHeader(): string {
        return 'text/event-stream';
      }
      destroy(): void {
        this.destroyed = true;
      }
    }
    const responses = () => Array.from({ length: 500 }, () => new Response());
    const readsDuring = async (graceMs: number) => {
      const own = new SseConnectionTracker();
      for (const response of responses()) own.track(response);
      reads = 0;
      expect(await own.closeAll(graceMs)).toBe(500);
      return reads;
    };
    const short = await readsDuring(20);
    expect(await readsDuring(400)).toBe(short);

    // Responses that close end the wait at once, however long the grace period.
    const closing = new SseConnectionTracker();
    const all = responses();
    for (const response of all) closing.track(response);
    setImmediate(() => {
      for (const response of all) {
        response.destroyed = true;
        response.emit('close');
      }
    });
    expect(await closing.closeAll(600_000)).toBe(0);
  });

  test('ignores what is not a response, and a response whose connection has already closed', async () => {
    const { clients, responses } = await server.connect(1);
    const response = responses[0]!;
    clients[0]!.destroy();
    await eventually(() => response.destroyed);
    tracker.track(response);
    tracker.track(undefined);
    tracker.track({ raw: null });
    tracker.track({ raw: {} });
    // Read before `size`, which would sweep a closed response away.
    expect(heldBy(tracker).length).toBe(0);
    expect(tracker.size).toBe(0);
  });

  test('a response that ended is let go by the next sweep and is not counted as cut', async () => {
    const response = (await server.connect(1)).responses[0]!;
    tracker.track(response);
    const finished = new Promise((resolve) => response.once('finish', resolve));
    response.end();
    await eventually(() => response.writableFinished);
    expect(tracker.size).toBe(0);
    // Node lets go of the socket on 'finish'. The connection is kept alive: the sweep must tell
    // that the response, not the socket, is over.
    await finished;
    expect(tracker.size).toBe(0);
    expect(heldBy(tracker).length).toBe(0);
    expect(await tracker.closeAll(0)).toBe(0);
  });

  test('a pipelined response is tracked while it waits for its socket, and let go once it ends', async () => {
    // Two requests on one connection: the second response gets the socket only when the first ends.
    const client = net.connect(server.port, '127.0.0.1').on('error', () => undefined);
    client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    client.resume();
    await eventually(() => server.responses.length === 2);
    const [first, second] = server.responses as [ServerResponse, ServerResponse];
    expect(second.socket).toBeNull();
    tracker.track(first);
    tracker.track(second);
    expect(tracker.size).toBe(2);

    first.end();
    await eventually(() => second.socket !== null);
    expect(tracker.size).toBe(1);
    expect(heldBy(tracker)).toEqual([second]);
    second.end();
    await eventually(() => second.writableFinished);
    expect(tracker.size).toBe(0);
    client.destroy();
  });
});

/** What `watch()` holds of its own: the connections it was told of one by one. */
function rememberedBy(tracker: SseConnectionTracker): unknown[] {
  return (tracker as unknown as { connections: unknown[] }).connections;
}

/**
 * A server that holds three responses open (two event streams, one JSON), and answers `/done` at
 * once; `watched(server)` is what the tracker is given, before the server listens.
 */
async function watchedServer(watched: (server: http.Server) => http.Server = (server) => server) {
  const held = new Map<string, ServerResponse>();
  const server = http.createServer((request, response) => {
    if (request.url === '/written-head') {
      // writeHead() with nothing set before keeps no header: only the written head says SSE.
      response.writeHead(200, { 'Content-Type': 'text/event-stream' });
    } else if (request.url === '/set-header') {
      response.setHeader('content-type', 'Text/Event-Stream; charset=utf-8');
      response.flushHeaders();
    } else if (request.url === '/slow-json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('[');
    } else {
      response.end('ok');
      return;
    }
    held.set(request.url!, response);
  });
  const tracker = new SseConnectionTracker();
  tracker.watch(watched(server));
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const ignore = () => undefined;
  const get = (path: string) =>
    new Promise<void>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
          response.on('error', ignore).on('end', resolve).resume();
        })
        .on('error', ignore);
    });
  return {
    server,
    tracker,
    held,
    /** 300 connections that come and go, then the three held open. */
    async connect(): Promise<void> {
      for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 100 }, () => get('/done')));
      for (const path of ['/written-head', '/set-header', '/slow-json']) void get(path);
      await eventually(() => held.size === 3);
    },
    /** Shutdown cuts the two event streams and leaves the JSON response alone. */
    async expectEventStreamsCut(): Promise<void> {
      expect(tracker.size).toBe(2);
      expect(await tracker.closeAll(50)).toBe(2);
      expect(held.get('/written-head')!.socket?.destroyed ?? true).toBe(true);
      expect(held.get('/set-header')!.socket?.destroyed ?? true).toBe(true);
      // Not an event stream: left to its route and to Nest.
      expect(held.get('/slow-json')!.socket!.destroyed).toBe(false);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('SseConnectionTracker.watch()', () => {
  test("finds the event streams open on a server's connections at shutdown, and only those, with nothing per connection", async () => {
    const watched = await watchedServer();
    try {
      await watched.connect();
      // Node's list of the server's connections is read at shutdown: no listener of its own.
      expect(watched.server.listenerCount('connection')).toBe(1);
      expect(rememberedBy(watched.tracker)).toHaveLength(0);
      await watched.expectEventStreamsCut();
    } finally {
      await watched.close();
    }
  });

  test('a server already listening is watched the same way', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(': open\n\n');
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const tracker = new SseConnectionTracker();
    tracker.watch(server);
    const client = http.get({ host: '127.0.0.1', port, agent: false }, (response) => response.resume());
    client.on('error', () => undefined);
    try {
      await eventually(() => tracker.size === 1);
      expect(await tracker.closeAll(0)).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a server without a list of its connections has each of them remembered, and ended ones forgotten', async () => {
    // What a Node that keeps no such list looks like to the tracker: the list's symbol hidden.
    const withoutList = (server: http.Server) =>
      new Proxy(server, {
        ownKeys: (target) =>
          Reflect.ownKeys(target).filter(
            (key) => typeof key !== 'symbol' || key.description !== 'http.server.connections',
          ),
      });
    const watched = await watchedServer(withoutList);
    try {
      await watched.connect();
      expect(watched.server.listenerCount('connection')).toBe(2);
      // Connections that came and went are forgotten in sweeps: at most twice those open, or 64.
      // Read before `size`, which sweeps.
      expect(rememberedBy(watched.tracker).length).toBeGreaterThanOrEqual(3);
      expect(rememberedBy(watched.tracker).length).toBeLessThanOrEqual(2 * 103);
      await watched.expectEventStreamsCut();
    } finally {
      await watched.close();
    }
  });
});
