import { anomaliesOf, connectAll, prime, type Scenario } from './scenario.js';

const WARMUP_CLIENTS = 10;

/**
 * Memory per idle connection: RSS and heapUsed (after a forced GC) with `connections` clients
 * open, minus the same before they connected, divided by their number; and how long connecting
 * them all took (at most 200 waiting for their response head at a time, below the listen backlog).
 */
export const idleMemory: Scenario = async (context) => {
  const { loadgen, server } = context;
  const { connections } = context.sizes.idle;
  // A few clients and one event first, so code loaded and compiled on first use is in the
  // baseline rather than charged to the measured connections. On a channel of their own: the
  // measured clients join one with nothing to replay, as the hand-written baselines have none.
  const warmupContext = { ...context, channel: `${context.channel}-warmup` };
  await server.openChannel(warmupContext.channel);
  await connectAll(warmupContext, 'warmup', WARMUP_CLIENTS);
  await prime(warmupContext, 'warmup', 1, 100);
  const warmup = await loadgen.call('report', { group: 'warmup', upToN: 1 });
  await loadgen.call('close', { group: 'warmup' });
  await server.waitForConnections(0);
  const before = await server.stats(true);
  const group = 'idle';
  try {
    await loadgen.call('cpuStart', { serverPid: server.pid });
    const connected = await connectAll(context, group, connections, { concurrency: 200 });
    const cpu = await loadgen.call('cpuStop', {});
    await server.waitForConnections(connections);
    const after = await server.stats(true);
    return {
      figures: {
        rssPerConnection: (after.rss - before.rss) / connections,
        heapPerConnection: (after.heapUsed - before.heapUsed) / connections,
        connectMs: connected.finishedAt - connected.startedAt,
      },
      anomalies: anomaliesOf(warmup),
      cpu,
    };
  } finally {
    await loadgen.call('close', { group });
  }
};
