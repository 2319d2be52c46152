import { anomaliesOf, connectAll, notesOf, prime, publishAndWait, STALL_MS, type Scenario } from './scenario.js';

/**
 * Reconnect storm: `clients` clients stand after `events` events and receive one more, all drop,
 * then all reconnect at once with their Last-Event-ID while one more event is published. The figure is the time from
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
    // The history is filled before the clients come, through one scout: 1,000 clients receiving
    // 1,000 events would take most of a minute through Nest's pipeline and measure nothing.
    // The clients then join where the scout stands, as if they had received everything.
    await connectAll(context, 'scout', 1);
    const filled = await publishAndWait(context, 'scout', { count: events, size, rate: 0 }, events);
    if (filled.wait.reachedAt === null) throw new Error(`the scout did not get ${events} events`);
    const resumeFrom = await loadgen.call('position', { group: 'scout' });
    await loadgen.call('close', { group: 'scout' });
    await connectAll(context, group, clients, { resumeFrom });
    try {
      const last = events + 1;
      await prime(context, group, last, size);
      await loadgen.call('drop', { group });
      await server.waitForConnections(0);
      if (fromDatabase) {
        const status = await server.persist(context.channel);
        if (status !== 200) return skipped(`POST /persist answered ${status}`);
      }
      await loadgen.call('cpuStart', { serverPid: server.pid });
      // In this order over IPC: the target first, then every reconnect and the new event at once.
      const waiting = loadgen.call('waitFor', { group, n: last + 1, stallMs: STALL_MS });
      const reconnecting = loadgen.call('reconnect', { group, concurrency: clients });
      await loadgen.call('publish', { port: server.port, channel: context.channel, count: 1, size, rate: 0 });
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
