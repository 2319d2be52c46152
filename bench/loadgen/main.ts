/**
 * The load generator: its own process (forked by the runner, `node --import tsx`), driven by
 * commands over IPC (see ./protocol.ts). Raw sockets and its own HTTP and SSE parsing keep a
 * client to a socket and a few fields, so 10,000 of them fit in this one process.
 */
import { epochNow } from '../clock.js';
import { ClientGroup } from './client-group.js';
import { CpuMeter } from './cpu-meter.js';
import type { CommandName, Commands, Reply, Request } from './protocol.js';

const groups = new Map<string, ClientGroup>();
const cpu = new CpuMeter();

function group(name: string): ClientGroup {
  const found = groups.get(name);
  if (!found) throw new Error(`no client group ${name}`);
  return found;
}

type Handlers = {
  [K in CommandName]: (args: Commands[K]['args']) => Commands[K]['result'] | Promise<Commands[K]['result']>;
};

const handlers: Handlers = {
  connect: ({ group: name, port, path, count, concurrency, latencyFromN, resumeFrom, localAddress }) => {
    let target = groups.get(name);
    if (!target) groups.set(name, (target = new ClientGroup(port, path, localAddress)));
    return target.connect(count, concurrency, latencyFromN, resumeFrom);
  },
  position: ({ group: name }) => group(name).position(),
  drop: ({ group: name }) => ({ dropped: group(name).drop() }),
  reconnect: ({ group: name, concurrency }) => group(name).reconnect(concurrency),
  waitFor: ({ group: name, n, stallMs }) => group(name).waitFor(n, stallMs),
  publish: async ({ port, channel, count, size, rate }) => {
    const sentAt = epochNow();
    const query = `channel=${channel}&count=${count}&size=${size}&rate=${rate}`;
    const response = await fetch(`http://127.0.0.1:${port}/publish?${query}`, { method: 'POST' });
    if (response.status !== 202) throw new Error(`POST /publish answered ${response.status}`);
    return { sentAt };
  },
  report: ({ group: name, upToN }) => group(name).report(upToN),
  measureLatencyFrom: ({ group: name, n }) => {
    group(name).measureLatencyFrom(n);
    return {};
  },
  latencies: ({ group: name }) => group(name).latencySamples(),
  close: ({ group: name }) => {
    const closed = groups.get(name)?.drop() ?? 0;
    groups.delete(name);
    return { closed };
  },
  closeAll: () => {
    let closed = 0;
    for (const found of groups.values()) closed += found.drop();
    groups.clear();
    return { closed };
  },
  gc: () => {
    globalThis.gc?.();
    return {};
  },
  cpuStart: ({ serverPid }) => {
    cpu.start(serverPid);
    return {};
  },
  cpuStop: () => cpu.stop(),
};

function reply(message: Reply): void {
  process.send!(message);
}

process.on('message', (message: Request) => {
  const handler = handlers[message.cmd] as (args: unknown) => unknown;
  Promise.resolve()
    .then(() => handler(message.args))
    .then(
      (result) => reply({ id: message.id, ok: true, result }),
      (error: unknown) => reply({ id: message.id, ok: false, error: String(error) }),
    );
});
// The runner gone (even killed): nothing left to do.
process.on('disconnect', () => process.exit(0));
