import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/spawned-app.js';
import { readAll } from '../support/sse-reader.js';

/**
 * The package as someone else gets it: `npm pack` the built library, install the tarball into
 * fresh Nest 12 apps in a folder outside the repository, compile them with tsc (strict, and with
 * the library's declarations type-checked), run them and stream over HTTP.
 *
 * Installing is offline: the tarball itself goes through a real `npm install` (so `files` and
 * `exports` are what the app sees), and the packages the app needs besides it (Nest, rxjs, ...)
 * are symlinked from this repository's node_modules instead of downloaded.
 *
 * MERIDIAN_KEEP_CONSUMER=1 keeps the temporary folder for a look afterwards.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const PACKAGE = 'nestjs-meridian-stream';
/** The optional peer each subpath entry point needs. A new subpath must be added here. */
const SUBPATH_PEERS: Record<string, string> = {
  './typeorm': 'typeorm',
  './redis': 'ioredis',
  './terminus': '@nestjs/terminus',
  './prometheus': 'prom-client',
};
/** What an app brings itself besides the library's peers. */
const APP_PACKAGES = ['@nestjs/platform-express', '@types/node'];
const EVENT_ID = /^[0-9a-f]+-(\d+)$/;

const run = promisify(execFile);

interface PackedFile {
  path: string;
}
interface PackageJson {
  main: string;
  types: string;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports: Record<string, string | Record<string, string>>;
}
interface ConsumerApp {
  dir: string;
  baseUrl: string;
  output(): string;
}

let workDir = '';
let packedFiles: string[] = [];
let packed: PackageJson;
const children: ChildProcess[] = [];
let basicApp: Promise<ConsumerApp>;
let durableApp: Promise<ConsumerApp>;

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/index.js'))) {
    throw new Error('dist/ is missing: run "npm run build" first (npm test does it in pretest).');
  }
  workDir = await mkdtemp(path.join(os.tmpdir(), 'meridian-consumer-'));
  const { stdout } = await npm(ROOT, ['pack', '--json', '--pack-destination', workDir]);
  const [pack] = JSON.parse(stdout) as [{ filename: string; files: PackedFile[] }];
  packedFiles = pack.files.map((file) => file.path).sort();
  const tarball = path.join(workDir, path.basename(pack.filename));
  // The package.json inside the tarball, as npm rewrote it.
  const manifest = await exec('tar', ['-xzOf', tarball, 'package/package.json'], workDir, 'tar');
  packed = JSON.parse(manifest.stdout) as PackageJson;

  const requiredPeers = Object.keys(packed.peerDependencies).filter((peer) => !isOptional(peer));
  // Both apps are prepared at once; each test awaits its own, so one app's failure stays its own.
  basicApp = prepareApp('basic-app', tarball, [...requiredPeers, ...APP_PACKAGES]);
  durableApp = prepareApp('durable-app', tarball, [
    ...requiredPeers,
    ...APP_PACKAGES,
    'typeorm',
    'better-sqlite3',
    'ioredis',
    '@nestjs/terminus',
    'prom-client',
  ]);
  await Promise.allSettled([basicApp, durableApp]);
}, 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((child) => exited(child, 5_000)));
  if (workDir && process.env.MERIDIAN_KEEP_CONSUMER !== '1') await rm(workDir, { recursive: true, force: true });
  else if (workDir) console.warn(`consumer apps kept in ${workDir}`);
});

describe('the packed tarball', () => {
  it('holds only dist/ (JavaScript and declarations), README, LICENSE, CHANGELOG and package.json', () => {
    const extra = packedFiles.filter(
      (file) =>
        !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(file) &&
        !/^dist\/.+\.(js|d\.ts)$/.test(file),
    );
    expect(extra).toEqual([]);
    expect(packedFiles).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js']));
    expect(packedFiles.filter((file) => /(^|\/)(test|sample-app|bench|data)\/|\.map$/.test(file))).toEqual([]);
    // Every module comes with its declarations.
    const undeclared = packedFiles
      .filter((file) => file.endsWith('.js'))
      .filter((file) => !packedFiles.includes(file.replace(/\.js$/, '.d.ts')));
    expect(undeclared).toEqual([]);
  });

  it('has every file that "exports", "main" and "types" point to', () => {
    const targets = Object.values(packed.exports).flatMap((entry) =>
      typeof entry === 'string' ? [entry] : Object.values(entry),
    );
    const missing = [...targets, packed.main, packed.types]
      .map((target) => path.posix.normalize(target))
      .filter((target) => !packedFiles.includes(target));
    expect(missing).toEqual([]);
    // Each subpath is an optional peer's entry point, and that peer is declared optional.
    const subpaths = Object.keys(packed.exports).filter((key) => !['.', './package.json'].includes(key));
    expect(subpaths.map((subpath) => [subpath, SUBPATH_PEERS[subpath], isOptional(SUBPATH_PEERS[subpath])])).toEqual(
      subpaths.map((subpath) => [subpath, expect.any(String), true]),
    );
  });

  it('imports only Node built-ins and declared peers, and the main entry point no optional peer', async () => {
    const { dir } = await basicApp;
    const installed = path.join(dir, 'node_modules', PACKAGE);
    const builtins = new Set(builtinModules);
    const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtins.has(specifier);
    const everywhere = new Set<string>();
    for (const file of packedFiles.filter((name) => name.endsWith('.js'))) {
      const { staticImports, dynamicImports } = importsOf(await readFile(path.join(installed, file), 'utf8'));
      for (const specifier of [...staticImports, ...dynamicImports])
        if (!isRelative(specifier)) everywhere.add(specifier);
    }
    const undeclared = [...everywhere].filter(
      (spec) => !isBuiltin(spec) && !(packageName(spec) in packed.peerDependencies),
    );
    expect(undeclared).toEqual([]);

    // Everything `import ... from 'nestjs-meridian-stream'` links before running.
    const linked = new Set<string>();
    const queue = [path.join(installed, 'dist/index.js')];
    const bare = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (linked.has(file)) continue;
      linked.add(file);
      for (const specifier of importsOf(await readFile(file, 'utf8')).staticImports) {
        if (isRelative(specifier)) queue.push(path.resolve(path.dirname(file), specifier));
        else if (!isBuiltin(specifier)) bare.add(packageName(specifier));
      }
    }
    expect([...bare].filter((name) => isOptional(name))).toEqual([]);
  });
});

describe('an app with only the main entry point (no typeorm, no ioredis installed)', () => {
  it('compiles in strict mode, starts, and streams events with ids, then done; resumes with Last-Event-ID', async () => {
    const app = await basicApp;
    const created = await postJson(`${app.baseUrl}/answers`, { prompt: 'hello there' });
    expect(created.status).toBe(201);
    const { id } = created.body as { id: string };

    const reader = await readAll(`${app.baseUrl}/answers/${id}`);
    expect(reader.status).toBe(200);
    expect(reader.headers['content-type']).toMatch(/^text\/event-stream/);
    // Without `retryMs` no id-only position marker opens the response: every block is an event with
    // an id, ending with `done`.
    expect(reader.blocks).toEqual(reader.events);
    const events = reader.events.map(({ id: eventId, event, data }) => ({
      id: eventId,
      event,
      data: JSON.parse(data),
    }));
    expect(events.map((event) => event.event)).toEqual(['token', 'token', 'token', 'token', 'done']);
    expect(events.map((event) => event.data.text ?? event.data.status).join('')).toBe(
      'You asked: hello there completed',
    );
    const sequences = events.map((event) => Number(EVENT_ID.exec(event.id ?? '')?.[1]));
    expect(sequences).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(events.map((event) => event.id!.split('-')[0])).size).toBe(1);

    const resumed = await readAll(`${app.baseUrl}/answers/${id}`, { 'last-event-id': events[1].id! });
    expect(resumed.events.map((event) => event.id)).toEqual(events.slice(2).map((event) => event.id));
    const fullySeen = await readAll(`${app.baseUrl}/answers/${id}`, { 'last-event-id': events[4].id! });
    expect(fullySeen.status).toBe(204);
  });

  it('has no optional peer installed, and importing a subpath names the package to install', async () => {
    const app = await basicApp;
    for (const peer of Object.values(SUBPATH_PEERS)) {
      expect({ peer, installed: existsSync(path.join(app.dir, 'node_modules', peer)) }).toEqual({
        peer,
        installed: false,
      });
    }
    const subpaths = Object.keys(packed.exports).filter((key) => key in SUBPATH_PEERS);
    const specifiers = subpaths.map((subpath) => `${PACKAGE}${subpath.slice(1)}`);
    const { stdout } = await run(process.execPath, ['try-imports.mjs', ...specifiers], { cwd: app.dir });
    const outcomes = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(outcomes).toEqual(
      subpaths.map((subpath, index) => ({
        specifier: specifiers[index],
        name: 'MissingPeerDependencyError',
        message: `${specifiers[index]} needs the optional peer dependency "${SUBPATH_PEERS[subpath]}": npm install ${SUBPATH_PEERS[subpath]}`,
      })),
    );
  });
});

describe('an app with every entry point (typeorm store on SQLite, terminus health, prometheus metrics, redis in types)', () => {
  it('compiles in strict mode, injects the store by its class, streams, and stores the events', async () => {
    const app = await durableApp;
    const created = await postJson(`${app.baseUrl}/streams`, {});
    expect(created.status).toBe(201);
    const { id } = created.body as { id: string };
    const reader = await readAll(`${app.baseUrl}/streams/${id}`);
    expect(reader.events.map((event) => event.event)).toEqual(['token', 'token', 'token', 'token', 'token', 'done']);
    expect(reader.events.every((event) => EVENT_ID.test(event.id ?? ''))).toBe(true);

    const entryPoints = await fetch(`${app.baseUrl}/streams/entry-points`).then((response) => response.json());
    expect(entryPoints).toEqual({ storeInjected: true, redisBus: 'function', table: 'meridian_streams' });

    // Written on finish (persistOnFinish): the store holds the stream through its final event.
    const deadline = Date.now() + 5_000;
    let stored: Record<string, unknown> = {};
    while (Date.now() < deadline) {
      const response = await fetch(`${app.baseUrl}/streams/${id}/stored`);
      stored = (await response.json()) as Record<string, unknown>;
      if (response.ok && stored.lastSequence === 6) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(stored).toMatchObject({ streamId: id, status: 'completed', lastSequence: 6 });
  });

  it('serves the /prometheus metrics, which count what the stream test sent', async () => {
    const app = await durableApp;
    const response = await fetch(`${app.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^meridian_stream_streams_created_total [1-9]/m);
    expect(text).toMatch(/^meridian_stream_resumes_total\{outcome="fresh"\} [1-9]/m);
  });

  it('reports its health through the /terminus indicator', async () => {
    const app = await durableApp;
    const response = await fetch(`${app.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', info: { streaming: { status: 'up', store: 'up' } } });
  });
});

/** Writes the app outside the repository, installs the tarball and links the rest, compiles, starts. */
async function prepareApp(name: string, tarball: string, links: string[]): Promise<ConsumerApp> {
  const dir = path.join(workDir, name);
  await mkdir(dir, { recursive: true });
  await cp(path.join(FIXTURES, name, 'src'), path.join(dir, 'src'), { recursive: true });
  await writeJson(path.join(dir, 'package.json'), {
    name: `meridian-consumer-${name}`,
    private: true,
    type: 'module',
    dependencies: { [PACKAGE]: `file:${tarball}` },
  });
  await writeJson(path.join(dir, 'tsconfig.json'), {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      // The library's declarations are checked too: a broken .d.ts fails here.
      skipLibCheck: false,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  });
  await writeFile(
    path.join(dir, 'try-imports.mjs'),
    [
      'for (const specifier of process.argv.slice(2)) {',
      '  try {',
      '    await import(specifier);',
      "    console.log(JSON.stringify({ specifier, name: 'loaded', message: '' }));",
      '  } catch (error) {',
      '    console.log(JSON.stringify({ specifier, name: error.name, message: error.message }));',
      '  }',
      '}',
      '',
    ].join('\n'),
  );

  // --legacy-peer-deps: npm would otherwise fetch the required peers; they are linked below.
  await npm(dir, ['install', '--offline', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund']);
  for (const link of links) {
    const target = path.join(ROOT, 'node_modules', link);
    if (!existsSync(target)) throw new Error(`${link} is not installed in ${ROOT}/node_modules (run npm ci)`);
    await mkdir(path.dirname(path.join(dir, 'node_modules', link)), { recursive: true });
    await symlink(target, path.join(dir, 'node_modules', link), 'dir');
  }
  await exec(process.execPath, [TSC, '-p', path.join(dir, 'tsconfig.json')], dir, `tsc in ${name}`);
  return start(dir);
}

async function start(dir: string): Promise<ConsumerApp> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 15_000;
  while (!output.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`${dir} exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`${dir} did not listen within 15 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { dir, baseUrl: `http://127.0.0.1:${port}`, output: () => output };
}

/** npm without the npm_* variables of the `npm test` that runs us (they could point it at the repo). */
function npm(cwd: string, args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return exec('npm', args, cwd, `npm ${args[0]} in ${cwd}`, { ...env, npm_config_update_notifier: 'false' });
}

async function exec(
  command: string,
  args: string[],
  cwd: string,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${what} failed:\n${stdout}\n${stderr}`, { cause: error });
  }
}

function importsOf(source: string): { staticImports: string[]; dynamicImports: string[] } {
  const staticImports = [
    ...source.matchAll(/(?:^|[;\n])\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g),
  ];
  const dynamicImports = [...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return {
    staticImports: staticImports.map((match) => match[1]),
    dynamicImports: dynamicImports.map((match) => match[1]),
  };
}

function isRelative(specifier: string): boolean {
  return specifier.startsWith('./') || specifier.startsWith('../');
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function isOptional(peer: string): boolean {
  return packed.peerDependenciesMeta?.[peer]?.optional === true;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function writeJson(file: string, value: unknown): Promise<void> {
  return writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
