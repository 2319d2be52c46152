import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freePort } from './spawned-app.js';

const run = promisify(execFile);

/**
 * A real Redis Cluster of three masters (no replicas), private to the test: `redis-server
 * --cluster-enabled yes` on free ports below 32768, joined by `redis-cli --cluster create`. It
 * keeps nothing on disk; stop() kills its processes (by PID) and removes its directory.
 */
export class PrivateRedisCluster {
  readonly ports: number[] = [];
  private readonly processes: ChildProcess[] = [];
  private directory: string | undefined;

  /** The startup nodes, for `new Cluster(cluster.nodes)`. */
  get nodes(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  /** A client of the cluster (the caller closes it). */
  client(options: ClusterOptions = {}): Cluster {
    return new Cluster(this.nodes, {
      ...options,
      redisOptions: { maxRetriesPerRequest: null, ...options.redisOptions },
    });
  }

  async start(masters = 3): Promise<this> {
    this.directory = mkdtempSync(path.join(tmpdir(), 'meridian-cluster-'));
    while (this.ports.length < masters) {
      const port = await freePort();
      if (!this.ports.includes(port)) this.ports.push(port);
    }
    for (const port of this.ports) {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(this.directory, `nodes-${port}.conf`),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          this.directory,
        ],
        { stdio: 'ignore' },
      );
      this.processes.push(child);
    }
    await Promise.all(this.ports.map((port) => this.ping(port)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...this.ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await Promise.all(this.ports.map((port) => this.whenClusterOk(port)));
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    if (this.directory) rmSync(this.directory, { recursive: true, force: true });
    this.directory = undefined;
  }

  private async ping(port: number): Promise<void> {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50 });
    probe.on('error', () => undefined);
    try {
      await probe.connect().catch(() => undefined);
      await probe.ping();
    } finally {
      probe.disconnect();
    }
  }

  /** Each node learns the others' slots through the cluster bus: waits until it says so. */
  private async whenClusterOk(port: number): Promise<void> {
    const node = new Redis({ port, host: '127.0.0.1' });
    try {
      // The gossip needs a moment; `redis-cli --cluster create` has already waited for most of it.
      for (let attempt = 0; attempt < 200; attempt++) {
        if (/cluster_state:ok/.test(await node.cluster('INFO'))) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the cluster node on port ${port} did not reach cluster_state:ok`);
    } finally {
      node.disconnect();
    }
  }
}
