/**
 * What the scale scenario reads outside the load generator: CPU time of processes (/proc), and a
 * private Redis' counters, clients and MONITOR output.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { Redis } from 'ioredis';

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, or NaN if /proc cannot tell. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may contain spaces): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Busy share of all cores over a window, from /proc/stat (0..1), to tell what else ran. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - fields[3] - fields[4], total };
}

/** Commands Redis counted (INFO commandstats: calls per command, including those a script ran) and its total. */
export interface RedisCounters {
  calls: Record<string, number>;
  /** total_commands_processed (Redis 7.0 counts the commands a script runs here too). */
  total: number;
}

/** Commands this file sends itself, left out of calls: INFO, CLIENT LIST, MONITOR. */
const ADMIN_COMMANDS = new Set(['info', 'client|list', 'monitor']);

export async function redisCounters(admin: Redis): Promise<RedisCounters> {
  const info = (await admin.call('INFO', 'stats', 'commandstats')) as string;
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!ADMIN_COMMANDS.has(match[1])) calls[match[1]] = Number(match[2]);
  }
  return { calls, total: Number(/^total_commands_processed:(\d+)/m.exec(info)?.[1] ?? NaN) };
}

/** Calls per command between two readings (commands with none left out). */
export function callsBetween(before: RedisCounters, after: RedisCounters): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after.calls)) {
    const difference = calls - (before.calls[name] ?? 0);
    if (difference > 0) delta[name] = difference;
  }
  return delta;
}

export function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((total, value) => total + value, 0);
}

/**
 * Local TCP port -> socket inode of the connections to `remotePort`, from /proc/net/tcp and
 * tcp6. (Linux reuses an ephemeral port for connections to different peers: without the remote
 * port, a load generator's socket could take the place of an instance's Redis connection.)
 */
function socketInodesByPort(remotePort: number): Map<number, string> {
  const byPort = new Map<number, string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || parseInt(fields[2].split(':')[1], 16) !== remotePort) continue;
      byPort.set(parseInt(fields[1].split(':')[1], 16), fields[9]);
    }
  }
  return byPort;
}

/** Socket inodes a process holds open. */
function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** One instance's connections to Redis, found by its process and by the names the bus gives them. */
export interface InstanceConnections {
  pid: number;
  /** Connections whose client end is a socket of this process. */
  byProcess: number;
  /** The names of those connections (CLIENT SETNAME), with how many have each; '' = unnamed. */
  names: Record<string, number>;
}

/**
 * CLIENT LIST, attributed to the instances: a client's address is the local port of a socket
 * that one of the processes holds (/proc/<pid>/fd). `others` counts the rest (this runner's
 * own connections among them).
 */
export async function connectionsByInstance(
  admin: Redis,
  pids: number[],
): Promise<{ instances: InstanceConnections[]; others: number; total: number }> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  const inodes = socketInodesByPort(admin.options.port!);
  const owned = pids.map((pid) => socketInodesOf(pid));
  const instances: InstanceConnections[] = pids.map((pid) => ({ pid, byProcess: 0, names: {} }));
  let others = 0;
  let total = 0;
  for (const line of list.split('\n')) {
    const addr = /(?:^| )addr=(\S+)/.exec(line)?.[1];
    if (!addr) continue;
    total++;
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
    const inode = inodes.get(Number(addr.slice(addr.lastIndexOf(':') + 1)));
    const index = inode === undefined ? -1 : owned.findIndex((set) => set.has(inode));
    if (index === -1) {
      others++;
      continue;
    }
    instances[index].byProcess++;
    instances[index].names[name] = (instances[index].names[name] ?? 0) + 1;
  }
  return { instances, others, total };
}

/** Commands MONITOR showed over a window: sent by clients, and run by scripts ("lua"). */
export interface MonitorSample {
  fromMs: number;
  toMs: number;
  client: Record<string, number>;
  script: Record<string, number>;
}

/**
 * Watches MONITOR for `ms`: which commands the instances send and which their scripts run.
 * MONITOR costs Redis a copy of every command, so the scenario only samples it outside the
 * windows it measures counters in.
 */
export async function monitorSample(url: string, ms: number): Promise<MonitorSample> {
  // A plain socket: ioredis' monitor() fails ("Command queue state error", an unhandled 'error')
  // when a busy server's first MONITOR lines come in the same chunk as its OK.
  const { hostname, port, password, username } = new URL(url);
  const socket = net.connect(Number(port || 6379), hostname || '127.0.0.1');
  socket.setEncoding('utf8');
  await once(socket, 'connect');
  const sample: MonitorSample = { fromMs: Date.now(), toMs: 0, client: {}, script: {} };
  let pending = '';
  socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop()!;
    for (const line of lines) {
      // +1733474400.123456 [0 127.0.0.1:51234] "EVALSHA" "..." (or [0 lua] inside a script)
      const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
      if (!match) continue;
      const bucket = match[1] === 'lua' ? sample.script : sample.client;
      const name = match[2].toLowerCase();
      bucket[name] = (bucket[name] ?? 0) + 1;
    }
  });
  socket.on('error', () => undefined);
  const auth = password
    ? `AUTH ${username ? `${decodeURIComponent(username)} ` : ''}${decodeURIComponent(password)}\r\n`
    : '';
  socket.write(`${auth}MONITOR\r\n`);
  sample.fromMs = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  sample.toMs = Date.now();
  socket.destroy();
  return sample;
}
