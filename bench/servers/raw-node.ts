/**
 * Baseline: plain node:http. Each event is framed once into one Buffer and that same Buffer is
 * written to every socket; no per-client serialisation, no stream pipeline. A ring of the last
 * frames lets a client resume from Last-Event-ID (ids are the sequence numbers).
 * Follows the contract in ./common.ts.
 */
import http from 'node:http';
import {
  announceListening,
  createProducer,
  parsePublishQuery,
  portFromEnv,
  serverStats,
  SSE_HEADERS,
} from './common.js';

/** As many events as the library's default replay buffer holds. */
const HISTORY = 10_000;

const clients = new Set<http.ServerResponse>();
const history: Buffer[] = new Array(HISTORY);
let newest = 0;

const producer = createProducer((n, data) => {
  const frame = Buffer.from(`id: ${n}\ndata: ${data}\n\n`);
  history[n % HISTORY] = frame;
  newest = n;
  for (const client of clients) client.write(frame);
});

function follow(request: http.IncomingMessage, response: http.ServerResponse): void {
  response.writeHead(200, SSE_HEADERS);
  response.flushHeaders();
  const lastEventId = Number(request.headers['last-event-id']);
  if (Number.isInteger(lastEventId) && lastEventId >= 0) {
    // Oldest still held; a client further behind gets what is held (no reset in this baseline).
    for (let n = Math.max(lastEventId + 1, newest - HISTORY + 1, 1); n <= newest; n++)
      response.write(history[n % HISTORY]);
  }
  clients.add(response);
  response.on('close', () => clients.delete(response));
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const route = `${request.method} ${url.pathname}`;
  if (route === 'GET /sse/bench') return follow(request, response);
  if (route === 'POST /publish') {
    producer.publish(parsePublishQuery(url.searchParams));
    response.writeHead(202).end();
    return;
  }
  if (route === 'GET /stats') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(serverStats(clients.size, url.searchParams.get('gc') === '1')));
    return;
  }
  response.writeHead(404).end();
});

const port = portFromEnv();
server.listen(port, '127.0.0.1', () => announceListening(port));
