/**
 * Baseline: better-sse, written the way its documentation suggests: one Channel, a Session per
 * request registered with it, `channel.broadcast(data, 'message', { eventId })` per event. The
 * event is handed over as an object, so better-sse serialises it (JSON.stringify) for each
 * session, as it does for its users. better-sse does not replay, so Last-Event-ID is ignored.
 * Its keep-alive comment stays at the default (every 10 s). Follows the contract in ./common.ts.
 */
import http from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { announceListening, createProducer, parsePublishQuery, portFromEnv, serverStats } from './common.js';

const channel = createChannel();

const producer = createProducer((n, data) => {
  // Parsed once per event (not per client): a better-sse user holds objects, not JSON text.
  channel.broadcast(JSON.parse(data), 'message', { eventId: String(n) });
});

async function follow(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  channel.register(await createSession(request, response));
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const route = `${request.method} ${url.pathname}`;
  if (route === 'GET /sse/bench') {
    follow(request, response).catch(() => response.destroy());
    return;
  }
  if (route === 'POST /publish') {
    producer.publish(parsePublishQuery(url.searchParams));
    response.writeHead(202).end();
    return;
  }
  if (route === 'GET /stats') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(serverStats(channel.sessionCount, url.searchParams.get('gc') === '1')));
    return;
  }
  response.writeHead(404).end();
});

const port = portFromEnv();
server.listen(port, '127.0.0.1', () => announceListening(port));
