import { anomaliesOf, connectAll, notesOf, prime, publishAndWait, STALL_MS, type Scenario } from './scenario.js';

/**
 * Reconnect storm: `clients` clients receive `events` events, all drop, then all reconnect at
 * once with their Last-Event-ID while one more event is published. The figure is the time from
 * the first reconnect until every client has that event, with nothing missed or repeated.
 * fromDatabase: POST /persist before reconnecting, so the catch-up is served from the database;
 * skipped for targets that answer it with anything but 200.
 */
export function reconnectStorm({ fromDatabase }: { fromDatabase: boolean }): Scenario {
  return async (context) => {
    const { loadgen, server, target } = context;
    if (!target.resumes) return skipped('no Last-Event-ID resume');
    const { clients, events, size } = context.sizes.storm;
    const group = 'storm';
    await connectAll(context, group, clients);
    try {
      await prime(context, group, 1, size);
      const last = 1 + events;
      const filled = await publishAndWait(context, group, { count: events, size, rate: 0 }, last);
      if (filled.wait.reachedAt === null) throw new Error(`only ${filled.wait.reached} clients got ${last} events`);
      await loadgen.call('drop', { group });
      await server.waitForConnections(0);
      if (fromDatabase) {
        const status = await server.persist();
        if (status !== 200) return skipped(`POST /persist answered ${status}`);
      }
      await loadgen.call('cpuStart', { serverPid: server.pid });
      // In this order over IPC: the target first, then every reconnect and the new event at once.
      const waiting = loadgen.call('waitFor', { group, n: last + 1, stallMs: STALL_MS });
      const reconnecting = loadgen.call('reconnect', { group, concurrency: clients });
      await loadgen.call('publish', { port: server.port, count: 1, size, rate: 0 });
      const [wait, reconnected] = await Promise.all([waiting, reconnecting]);
      const cpu = await loadgen.call('cpuStop', {});
      const report = await loadgen.call('report', { group, upToN: last + 1 });
      const notes = notesOf(report);
      if (reconnected.failed > 0) notes.push(`reconnects not answered 200: ${JSON.stringify(reconnected.statuses)}`);
      const figure = fromDatabase ? 'stormDatabaseMs' : 'stormBufferMs';
      return {
        figures: { [figure]: wait.reachedAt === null ? NaN : wait.reachedAt - reconnected.startedAt },
        anomalies: anomaliesOf(report),
        cpu,
        notes,
      };
    } finally {
      await loadgen.call('close', { group });
    }
  };
}

function skipped(reason: string) {
  return { figures: {}, anomalies: { gaps: 0, duplicates: 0, missing: 0 }, skipped: reason };
}
