import os from 'node:os';
import type { LoadGenerator } from './loadgen/remote.js';
import type { RunRecord } from './report/summary.js';
import { connectAll, type ScenarioContext, type Sizes } from './scenarios/scenario.js';
import { ServerProcess } from './server-process.js';
import { waitUntilQuiet } from './settle.js';
import type { Target } from './targets.js';

/** The scenario name of the records this measurement adds to a run (figures in report/figures.ts). */
export const RUNNING_SCENARIO = 'running-connect';

/**
 * Opening connections on servers that have been running, for two targets at once: both servers
 * start once and stay up, and rounds alternate between them (the order flips every round). A
 * round: the load generator's and the server's garbage collected, the machine quiet, then
 * `sizes.idle.connections` clients opened 200 at a time, timed with the server's CPU, and closed.
 * Each server's first round is its warm-up and is not recorded; the records' `repetition` is the
 * round, so the report pairs the two targets round by round.
 *
 * Why: idle memory's connect time is taken on a fresh process, where the first connections run
 * in V8's interpreter while its optimiser compiles the code they call (`--trace-opt`: 170 to 190
 * functions of Nest, Node, Fastify and the library, after ten warm-up clients) and the heap grows
 * for the first time. Those one-time costs move by 10 to 20% from one process to the next, which
 * hides the few percent that tell two routes apart; two processes measured in turn compare what a
 * connection costs a server that has been running.
 */
export async function measureRunningPair(
  loadgen: LoadGenerator,
  targets: readonly [Target, Target],
  sizes: Sizes,
  rounds: number,
  log: (record: RunRecord) => void = () => undefined,
): Promise<RunRecord[]> {
  const { connections } = sizes.idle;
  const servers: ServerProcess[] = [];
  const records: RunRecord[] = [];
  try {
    for (const target of targets) {
      const server = await ServerProcess.start(target, ['idle-memory']);
      servers.push(server);
      await server.openChannel(RUNNING_SCENARIO);
    }
    for (let round = 0; round <= rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) {
        const context: ScenarioContext = {
          target: targets[index],
          server: servers[index],
          channel: RUNNING_SCENARIO,
          loadgen,
          sizes,
        };
        const started = performance.now();
        const result = await connectRound(context, connections);
        if (round === 0) continue;
        const record: RunRecord = {
          repetition: round - 1,
          scenario: RUNNING_SCENARIO,
          target: targets[index].name,
          seconds: (performance.now() - started) / 1000,
          loadAverage: os.loadavg()[0],
          result,
        };
        records.push(record);
        log(record);
      }
    }
  } finally {
    await loadgen.call('closeAll', {}).catch(() => undefined);
    await Promise.all(servers.map((server) => server.stop()));
  }
  return records;
}

async function connectRound(context: ScenarioContext, connections: number): Promise<RunRecord['result']> {
  const { loadgen, server } = context;
  const group = 'running';
  await loadgen.call('gc', {});
  await server.stats(true);
  await waitUntilQuiet();
  await loadgen.call('cpuStart', { serverPid: server.pid });
  const connected = await connectAll(context, group, connections, { concurrency: 200 });
  const cpu = await loadgen.call('cpuStop', {});
  await loadgen.call('close', { group });
  await server.waitForConnections(0);
  const serverCpuMs = (cpu.serverPercent / 100) * cpu.wallMs;
  return {
    figures: {
      runningConnectMs: connected.finishedAt - connected.startedAt,
      runningCpuPerConnection: (serverCpuMs * 1000) / connections,
    },
    anomalies: { gaps: 0, duplicates: 0, missing: 0 },
    cpu,
  };
}
