/**
 * Baseline: plain node:http. Each event is framed once into one Buffer and that same Buffer is
 * written to every socket; no per-client serialisation, no stream pipeline. A ring of the last
 * frames lets a client resume from Last-Event-ID (ids are the sequence numbers).
 * Follows the contract in ./common.ts.
 */
import type http from 'node:http';
import { Channels, serveNodeHttp, SSE_HEADERS } from './common.js';

/** As many events as the library's default replay buffer holds. */
const HISTORY = 10_000;

interface Channel {
  clients: Set<http.ServerResponse>;
  history: Buffer[];
  newest: number;
}

let connections = 0;

const channels = new Channels<Channel>(
  () => ({ clients: new Set(), history: new Array<Buffer>(HISTORY), newest: 0 }),
  (channel) => (n, data) => {
    const frame = Buffer.from(`id: ${n}\ndata: ${data}\n\n`);
    channel.history[n % HISTORY] = frame;
    channel.newest = n;
    for (const client of channel.clients) client.write(frame);
  },
);

serveNodeHttp({
  open: (name) => void channels.open(name),
  publish: (request) => channels.publish(request),
  connections: () => connections,
  follow(name, request, response) {
    const { clients, history, newest } = channels.open(name);
    response.writeHead(200, SSE_HEADERS);
    response.flushHeaders();
    const lastEventId = Number(request.headers['last-event-id']);
    if (Number.isInteger(lastEventId) && lastEventId >= 0) {
      // Oldest still held; a client further behind gets what is held (no reset in this baseline).
      for (let n = Math.max(lastEventId + 1, newest - HISTORY + 1, 1); n <= newest; n++)
        response.write(history[n % HISTORY]);
    }
    clients.add(response);
    connections++;
    response.on('close', () => {
      clients.delete(response);
      connections--;
    });
  },
});
