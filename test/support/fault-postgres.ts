import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './spawned-app.js';

/*
 * A PostgreSQL server of the test's own (never the shared one): initdb into a temporary folder,
 * `postgres` on a free loopback port between 20000 and 32000, stopped and started again by the
 * PID of the process this helper spawned. As root, the server runs as the `postgres` OS user
 * (PostgreSQL refuses to run as root). Also a TCP proxy that loses the reply to a COMMIT.
 */

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a private PostgreSQL cannot run here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  for (const binary of ['initdb', 'postgres']) {
    if (!existsSync(path.join(BIN, binary))) return `${path.join(BIN, binary)} is missing (set PG_BIN)`;
  }
  if (process.getuid?.() === 0 && osUser('postgres') === undefined)
    return 'running as root and there is no postgres OS user';
  return undefined;
}

function osUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

export class PrivatePostgres {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly folder: string;
  private readonly dataDir: string;
  private readonly user: { uid: number; gid: number } | undefined;
  private logText = '';
  port = 0;

  private constructor() {
    this.folder = mkdtempSync(path.join(tmpdir(), 'meridian-private-pg-'));
    this.dataDir = path.join(this.folder, 'data');
    this.user = process.getuid?.() === 0 ? osUser('postgres') : undefined;
    if (this.user) chownSync(this.folder, this.user.uid, this.user.gid);
  }

  /** initdb, then start. */
  static async create(): Promise<PrivatePostgres> {
    const server = new PrivatePostgres();
    await server.run(path.join(BIN, 'initdb'), ['-D', server.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await server.start();
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** PID of the running postmaster, if it runs. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Server log, for failure messages. */
  log(): string {
    return this.logText;
  }

  /** Starts the server on its port (the same one on a restart) and waits until it answers queries. */
  async start(): Promise<void> {
    if (this.pid) return;
    if (!this.port) this.port = await freePort();
    const child = spawn(
      path.join(BIN, 'postgres'),
      [
        '-D',
        this.dataDir,
        '-p',
        String(this.port),
        '-k',
        this.folder,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=50',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) },
    );
    this.child = child;
    child.stdout!.on('data', (chunk) => (this.logText += chunk));
    child.stderr!.on('data', (chunk) => (this.logText += chunk));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`private PostgreSQL exited with ${child.exitCode}:\n${this.logText}`);
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      const ready = await client
        .connect()
        .then(() => client.query('SELECT 1'))
        .then(
          () => true,
          () => false,
        );
      await client.end().catch(() => undefined);
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`private PostgreSQL not ready within 20 s:\n${this.logText}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Stops the server by its PID. SIGQUIT (default) is PostgreSQL's immediate shutdown: every
   * connection dies at once and the next start recovers, as after a crash. SIGINT is a fast
   * shutdown (transactions rolled back, clients disconnected).
   */
  async stop(signal: 'SIGQUIT' | 'SIGINT' | 'SIGTERM' | 'SIGKILL' = 'SIGQUIT'): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    process.kill(pid, signal);
    await this.exited;
  }

  /** Stops the server and deletes its folder. */
  async destroy(): Promise<void> {
    await this.stop('SIGINT');
    rmSync(this.folder, { recursive: true, force: true });
  }

  /** A query on a connection of its own (not the application's pool). */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  private run(binary: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) });
      let output = '';
      child.stdout!.on('data', (chunk) => (output += chunk));
      child.stderr!.on('data', (chunk) => (output += chunk));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`${binary} exited with ${code}:\n${output}`)),
      );
    });
  }
}

/**
 * A loopback TCP proxy in front of PostgreSQL that, once armed, lets the next COMMIT through to
 * the server and then cuts the connection before the server's reply reaches the client: the
 * transaction is committed, but the application sees its connection die during the commit, as it
 * would when the database or the network fails at that moment.
 */
export class CommitReplyLosingProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private armed = false;
  port = 0;
  /** COMMITs whose reply was lost. */
  cuts = 0;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      let replyHeld = false;
      upstream.on('data', (chunk) => {
        if (!replyHeld) client.write(chunk);
      });
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        // A simple-protocol Query message: 'Q', length, "COMMIT\0".
        if (this.armed && chunk.includes('COMMIT\0')) {
          this.armed = false;
          replyHeld = true;
          this.cuts++;
          // Time for the server to commit, then both sides go, the reply unsent.
          setTimeout(() => {
            upstream.destroy();
            client.destroy();
          }, 300);
        }
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async listen(): Promise<this> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    return this;
  }

  /** The next COMMIT that passes loses its reply. */
  arm(): void {
    this.armed = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
