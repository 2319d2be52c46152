import { anomaliesOf, connectAll, notesOf, prime, publishAndWait, type Scenario } from './scenario.js';

/**
 * Fan-out throughput: `clients` clients, `events` events of `size` bytes published as fast as the
 * producer goes. deliveries/s = events received by all clients / (last delivery − publish time).
 * Every client must get every event, in order, once.
 */
export const throughput: Scenario = async (context) => {
  const { loadgen, server } = context;
  const { clients, events, size } = context.sizes.throughput;
  const group = 'throughput';
  await connectAll(context, group, clients, { concurrency: clients });
  try {
    await prime(context, group, 1, size);
    const before = await loadgen.call('report', { group, upToN: 1 });
    await loadgen.call('cpuStart', { serverPid: server.pid });
    const { sentAt, wait } = await publishAndWait(context, group, { count: events, size, rate: 0 }, 1 + events);
    const cpu = await loadgen.call('cpuStop', {});
    const after = await loadgen.call('report', { group, upToN: 1 + events });
    const delivered = after.events - before.events;
    const seconds = wait.reachedAt === null ? NaN : (wait.reachedAt - sentAt) / 1000;
    return {
      figures: { deliveriesPerSecond: delivered / seconds },
      anomalies: anomaliesOf(after),
      cpu,
      notes: notesOf(after),
    };
  } finally {
    await loadgen.call('close', { group });
  }
};
