import { anomaliesOf, connectAll, notesOf, prime, publishAndWait, type Scenario } from './scenario.js';

/**
 * Delivery latency under a steady rate: `clients` clients, `rate` events/s for `seconds`; p50 and
 * p99 of (receive time − the event's `t`). The first `warmupEvents` are delivered but not counted.
 */
export const latency: Scenario = async (context) => {
  const { loadgen, server } = context;
  const { clients, rate, seconds, warmupEvents, size } = context.sizes.latency;
  const group = 'latency';
  const events = Math.round(rate * seconds) + warmupEvents;
  // Sequence 1 is the primer, then the warm-up events.
  await connectAll(context, group, clients, { latencyFromN: 2 + warmupEvents });
  try {
    await prime(context, group, 1, size);
    await loadgen.call('cpuStart', { serverPid: server.pid });
    await publishAndWait(context, group, { count: events, size, rate }, 1 + events);
    const cpu = await loadgen.call('cpuStop', {});
    const report = await loadgen.call('report', { group, upToN: 1 + events });
    return {
      figures: { p50Ms: report.latency.p50, p99Ms: report.latency.p99 },
      anomalies: anomaliesOf(report),
      cpu,
      notes: notesOf(report),
    };
  } finally {
    await loadgen.call('close', { group });
  }
};
