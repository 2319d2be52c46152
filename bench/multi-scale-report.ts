import type { ModeResult, ScaleResult } from './multi-scale.js';
import type { MonitorSample } from './multi-scale-probes.js';

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const count = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 1 ? 2 : 1)} ms` : '–');
const fixed = (n: number | undefined, digits = 2) =>
  n === undefined || !Number.isFinite(n) ? '–' : (Math.abs(n) < 0.5 * 10 ** -digits ? 0 : n).toFixed(digits);
const percent = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}%` : '–');

/** Names of an instance's connections without its id: `meridian:<id>:subscriber` -> `subscriber`. */
function roles(names: Record<string, number>): string {
  return Object.entries(names)
    .map(([name, n]) => `${n > 1 ? `${n} ` : ''}${name.split(':').pop() || 'unnamed'}`)
    .sort()
    .join(', ');
}

/** The scale scenario's table: one instance beside three and Redis, with the ratios and the goals of issue 23. */
export function scaleMarkdown(result: ScaleResult): string {
  const { options, machine } = result;
  const single = result.modes.find((mode) => mode.mode === 'single');
  const redis = result.modes.find((mode) => mode.mode === 'redis');
  const cell = (mode: ModeResult | undefined, pick: (mode: ModeResult) => string) => (mode ? pick(mode) : 'not run');
  const ratio = (pick: (mode: ModeResult) => number) =>
    single && redis ? `${fixed(pick(redis) / pick(single))}x` : '–';
  const r = redis?.redis;
  const idle = redis?.idle;
  const rows: [string, string, string, string][] = [
    [
      'events sent per second, steady window',
      cell(single, (m) => count(m.window.eventsPerSecond)),
      cell(redis, (m) => count(m.window.eventsPerSecond)),
      `asked: ${count((options.streams * 1000) / options.intervalMs)}`,
    ],
    [
      'p50 latency, send to client',
      cell(single, (m) => ms(m.report.latency.p50)),
      cell(redis, (m) => ms(m.report.latency.p50)),
      ratio((m) => m.report.latency.p50),
    ],
    [
      'p99 latency, send to client',
      cell(single, (m) => ms(m.report.latency.p99)),
      cell(redis, (m) => ms(m.report.latency.p99)),
      `${ratio((m) => m.report.latency.p99)} (goal: at most 1.3x)`,
    ],
    ['max latency', cell(single, (m) => ms(m.report.latency.max)), cell(redis, (m) => ms(m.report.latency.max)), ''],
    [
      'CPU per instance, % of one core',
      cell(single, (m) => m.cpu.instances.map(percent).join(' / ')),
      cell(redis, (m) => m.cpu.instances.map(percent).join(' / ')),
      single && redis ? `sum ${ratio((m) => m.cpu.instances.reduce((a, b) => a + b, 0))}` : '',
    ],
    ['CPU of redis-server', '–', cell(redis, (m) => percent(m.cpu.redis)), ''],
    [
      'CPU of the load generator',
      cell(single, (m) => percent(m.cpu.loadGenerator)),
      cell(redis, (m) => percent(m.cpu.loadGenerator)),
      '',
    ],
    [
      `CPU of the whole machine (${machine.cores} cores: ${machine.cores * 100}%)`,
      cell(single, (m) => percent(m.cpu.machineBusy)),
      cell(redis, (m) => percent(m.cpu.machineBusy)),
      '',
    ],
    [
      'Redis connections per instance',
      '–',
      r
        ? `${r.connections.map((c) => c.byProcess).join(' / ')} (${[...new Set(r.connections.map((c) => roles(c.names)))].join(' | ')})`
        : '–',
      'goal: at most 4',
    ],
    [
      "Redis commands per event, as Redis counts them (scripts' commands included)",
      '–',
      fixed(r?.commandsPerEvent),
      '',
    ],
    [
      'Redis script calls per event (commandstats)',
      '–',
      fixed(
        r &&
          sum(
            Object.entries(r.byCommand)
              .filter(([name]) => /^(eval|fcall)/.test(name))
              .map(([, n]) => n),
          ),
      ),
      '',
    ],
    [
      'Redis commands sent per event (MONITOR, 1 s)',
      '–',
      r?.monitor ? `${fixed(r.monitor.clientPerEvent)} (+ ${fixed(r.monitor.scriptPerEvent)} run by scripts)` : '–',
      'goal: at most 1.2',
    ],
    [
      'Redis commands per event, whole run (creation and completion included)',
      '–',
      fixed(r?.wholeRunCommandsPerEvent),
      '',
    ],
    [
      'gaps / duplicates / missing events',
      cell(single, (m) => `${m.report.gaps} / ${m.report.duplicates} / ${m.report.missing}`),
      cell(redis, (m) => `${m.report.gaps} / ${m.report.duplicates} / ${m.report.missing}`),
      'must be 0',
    ],
    [
      'clients that got the final event',
      cell(single, (m) => `${count(m.report.ended)} of ${count(m.report.clients)}`),
      cell(redis, (m) => `${count(m.report.ended)} of ${count(m.report.clients)}`),
      '',
    ],
  ];
  const lines = [
    `${count(options.streams)} concurrent streams, ${1000 / options.intervalMs} events/s each (${options.size} B) for ${options.seconds} s, one client per stream` +
      ` (with Redis: on an instance other than the stream's producer); load generator in its own process; ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, load average ${machine.loadAverage.toFixed(2)} at the start.` +
      ` Figures over the steady window (${redis ? Math.round(redis.window.ms / 1000) : single ? Math.round(single.window.ms / 1000) : '–'} s); latencies leave out each stream's first second.`,
    '',
    '| figure | one instance | three instances + Redis | ratio, goal |',
    '| --- | ---: | ---: | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
  if (idle) {
    const [none, some, more] = idle.windows;
    const commands = (sample: MonitorSample) =>
      Object.entries(sample.client)
        .map(([name, n]) => `${n} ${name}`)
        .join(', ') || 'none';
    lines.push(
      '',
      `Idle followed streams (producer silent, client on another instance), Redis commands per minute over ${idle.seconds} s each (MONITOR; sent, and with the commands their scripts ran):` +
        ` no stream ${fixed(none.sentPerMinute, 0)} / ${fixed(none.allPerMinute, 0)};` +
        ` ${count(some.streams)} streams ${fixed(some.sentPerMinute, 0)} / ${fixed(some.allPerMinute, 0)} (sent: ${commands(some.sample)} in ${idle.seconds} s);` +
        ` ${count(more.streams)} streams ${fixed(more.sentPerMinute, 0)} / ${fixed(more.allPerMinute, 0)}.` +
        ` One more idle followed stream: ${fixed(idle.sentPerIdleStreamPerMinute)} / ${fixed(idle.perIdleStreamPerMinute)} commands per minute.`,
    );
  }
  if (result.failures.length)
    lines.push('', '**Not a valid measurement:**', ...result.failures.map((failure) => `- ${failure}`));
  return lines.join('\n');
}
