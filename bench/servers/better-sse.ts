/**
 * Baseline: better-sse, written the way its documentation suggests: a Channel per stream, a
 * Session per request registered with it, `channel.broadcast(data, 'message', { eventId })` per
 * event. The event is handed over as an object, so better-sse serialises it (JSON.stringify) for
 * each session, as it does for its users. better-sse does not replay, so Last-Event-ID is
 * ignored. Its keep-alive comment stays at the default (every 10 s). Follows the contract in
 * ./common.ts.
 */
import { createChannel, createSession, type Channel } from 'better-sse';
import { Channels, serveNodeHttp } from './common.js';

const channels = new Channels<Channel>(
  () => createChannel(),
  // Parsed once per event (not per client): a better-sse user holds objects, not JSON text.
  (channel) => (n, data) => channel.broadcast(JSON.parse(data), 'message', { eventId: String(n) }),
);

serveNodeHttp({
  open: (name) => void channels.open(name),
  publish: (request) => channels.publish(request),
  connections: () => channels.values().reduce((sum, channel) => sum + channel.sessionCount, 0),
  async follow(name, request, response) {
    channels.open(name).register(await createSession(request, response));
  },
});
