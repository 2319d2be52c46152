import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/spawned-app.js';

/*
 * Issue 6: `npm run bench` works end to end, at --quick sizes: the runner, the load generator in
 * its own process, one server process per target running every scenario on a channel of its own,
 * and the report. The bench exits non-zero on any gap, duplicate, missing event or failed run, so
 * a target that loses events, or a scenario broken by a change of the server contract, fails here.
 * Figures are not checked: speed is the bench's business, not the tests'. Needs the built library
 * (npm test builds it first).
 */

interface BenchRun {
  code: number | null;
  output: string;
}

function runBench(args: string[]): Promise<BenchRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('npm run bench, --quick (real processes, loopback sockets)', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'meridian-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario on raw node, the fastest path and plain @Sse() with no gap or duplicate', async () => {
    const targets = ['meridian-direct-fastify', 'meridian-plain-express'];
    const { code, output } = await runBench(['--quick', `--only=${targets.join(',')}`, `--out=${out}`]);
    expect({ code, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    const lines = output.split('\n').filter((line) => line.startsWith('rep 1 '));
    for (const target of ['raw-node', ...targets]) {
      for (const scenario of ['idle-memory', 'latency', 'throughput', 'storm-buffer']) {
        const line = lines.find((l) => l.includes(` ${scenario} `) && l.includes(` ${target} `));
        expect(line).toMatch(/anomalies=0 /);
      }
    }
    // The database tier is only the library's: raw node has none and says so.
    expect(lines.find((l) => l.includes('storm-database') && l.includes('raw-node'))).toMatch(
      /skipped: POST \/persist/,
    );
    for (const target of targets) {
      expect(lines.find((l) => l.includes('storm-database') && l.includes(target))).toMatch(/stormDatabaseMs=\d/);
    }
    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/\| meridian-direct-fastify +\|/);
    expect(readFileSync(path.join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg/);
  }, 180_000);

  it('compares plain @Sse() with the hand-written route on running servers, round by round', async () => {
    const pairOut = path.join(out, 'pair');
    const targets = ['nest-subject-express', 'meridian-plain-express'];
    const { code, output } = await runBench([
      '--quick',
      '--scenarios=idle-memory',
      '--rounds=2',
      `--only=${targets.join(',')}`,
      `--out=${pairOut}`,
    ]);
    expect({ code, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    // Two rounds each after the warm-up round (plain first), in turn: the order flips every round.
    const rounds = output.split('\n').filter((line) => line.includes(' running-connect '));
    expect(rounds.map((line) => line.split(/ +/).slice(0, 3).join(' '))).toEqual([
      'r1 running-connect nest-subject-express',
      'r1 running-connect meridian-plain-express',
      'r2 running-connect meridian-plain-express',
      'r2 running-connect nest-subject-express',
    ]);
    for (const line of rounds) expect(line).toMatch(/runningConnectMs=\d+\.\d runningCpuPerConnection=\d/);
    const report = readFileSync(path.join(pairOut, 'report.md'), 'utf8');
    expect(report).toMatch(
      /\| meridian-plain-express \/ nest-subject-express \| .* \| [\d.]+x \([\d.]+x – [\d.]+x\), \d better \/ \d worse, p [\d.]+ \| [\d.]+x .* \|\n/,
    );
    expect(report).toContain('rounds alternate between them, 2 each');
  }, 180_000);

  it('holds growing numbers of connections from several load generators on raw node and @ResumableSse()', async () => {
    const connectionsOut = path.join(out, 'connections');
    const { code, output } = await runBench(['--quick', '--scenarios=connections', `--out=${connectionsOut}`]);
    expect({ code, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    // Every target at every size, each client with every event of the broadcast.
    for (const target of ['raw-node', 'meridian-direct-fastify']) {
      for (const size of [200, 500]) {
        const line = output.split('\n').find((l) => l.startsWith(`${target} `) && l.includes(` ${size} conns `));
        expect(line).toMatch(/cpu\/event=[\d.]+µs .* gaps\/dups\/missing=0\/0\/0$/);
      }
    }
    const report = readFileSync(path.join(connectionsOut, 'connections.md'), 'utf8');
    expect(report).toMatch(/\| 500 \| `meridian-direct-fastify` \| -?[\d.]+ KiB \([\d.-]+x\) \|/);
    expect(report).toContain('2 load generator processes connect from 127.0.0.2 on');
  }, 180_000);
});
