import { existsSync } from 'node:fs';
import net from 'node:net';

/**
 * Checks once, before the suites run, what they need from the machine: PostgreSQL at DATABASE_URL,
 * Redis at REDIS_URL, and Chromium for the browser suites. Under CI=true anything missing fails
 * the run: unset, not a URL of that service, unreachable, or not installed; a skip there would go
 * unnoticed. On a developer's machine the suites that need it skip, and this says so loudly.
 * Suites read the verdict from MERIDIAN_SERVICE_<NAME> (up, unset, other, down; for CHROMIUM up
 * or missing).
 */
export default async function globalSetup(): Promise<void> {
  const { verdicts, problems } = await checkServices(process.env, CHROMIUM);
  for (const [name, verdict] of Object.entries(verdicts)) process.env[`MERIDIAN_SERVICE_${name}`] = verdict;
  report(problems, process.env.CI === 'true');
}

/**
 * Debian's Chromium, which the browser suites drive (`.ci/run` installs the package when it is
 * missing). Defined here: jest loads this file without the suites' module mapping, so it imports
 * nothing of test/support; test/support/browser.ts takes it from here.
 */
export const CHROMIUM = '/usr/bin/chromium';

const SERVICES = [
  { name: 'POSTGRES', variable: 'DATABASE_URL', protocols: ['postgres:', 'postgresql:'], port: 5432 },
  { name: 'REDIS', variable: 'REDIS_URL', protocols: ['redis:', 'rediss:'], port: 6379 },
] as const;

/** The verdict on each service, and what is missing, in words. */
export async function checkServices(
  env: Record<string, string | undefined>,
  chromium: string,
): Promise<{ verdicts: Record<string, string>; problems: string[] }> {
  const verdicts: Record<string, string> = {};
  const problems: string[] = [];
  for (const service of SERVICES) {
    const raw = env[service.variable];
    const url = raw && URL.canParse(raw) ? new URL(raw) : undefined;
    let verdict: string;
    if (!raw) {
      verdict = 'unset';
      problems.push(`${service.variable} is unset`);
    } else if (!url || !(service.protocols as readonly string[]).includes(url.protocol)) {
      verdict = 'other';
      problems.push(`${service.variable}=${raw} is not a ${service.protocols[0]} URL`);
    } else {
      verdict = (await reachable(url.hostname, Number(url.port || service.port))) ? 'up' : 'down';
      if (verdict === 'down') problems.push(`${service.variable}=${raw} is unreachable`);
    }
    verdicts[service.name] = verdict;
  }
  verdicts.CHROMIUM = existsSync(chromium) ? 'up' : 'missing';
  if (verdicts.CHROMIUM === 'missing') problems.push(`${chromium} is missing (apt-get install chromium)`);
  return { verdicts, problems };
}

/** Under CI=true, fails the run over any problem; elsewhere warns that suites will skip. */
export function report(problems: readonly string[], ci: boolean): void {
  if (problems.length === 0) return;
  const missing = `\n!!! ${problems.join('; ')}.\n`;
  if (ci) throw new Error(`${missing}!!! Under CI=true this fails the run: no suite may skip for it.\n`);
  console.warn(`${missing}!!! Suites that need it will be SKIPPED.\n`);
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
