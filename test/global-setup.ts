import net from 'node:net';

/**
 * Checks the services named by DATABASE_URL and REDIS_URL once before the suites run. Under
 * CI=true an unreachable service fails the run; on a developer's machine the suites that need it
 * skip, and this says so loudly. Suites read the verdict from MERIDIAN_SERVICE_<NAME>.
 */
export default async function globalSetup(): Promise<void> {
  const services = [
    { name: 'POSTGRES', variable: 'DATABASE_URL', protocols: ['postgres:', 'postgresql:'] },
    { name: 'REDIS', variable: 'REDIS_URL', protocols: ['redis:', 'rediss:'] },
  ];
  const failures: string[] = [];
  for (const service of services) {
    const raw = process.env[service.variable];
    let verdict = 'unset';
    if (raw) {
      const url = new URL(raw);
      if (service.protocols.includes(url.protocol)) {
        const port = Number(url.port || (service.name === 'POSTGRES' ? 5432 : 6379));
        verdict = (await reachable(url.hostname, port)) ? 'up' : 'down';
        if (verdict === 'down') failures.push(`${service.variable}=${raw} is unreachable`);
      } else {
        verdict = 'other';
      }
    }
    process.env[`MERIDIAN_SERVICE_${service.name}`] = verdict;
  }
  if (failures.length === 0) return;
  const message = `\n!!! ${failures.join('; ')}.\n!!! Suites that need it will be SKIPPED.\n`;
  if (process.env.CI === 'true') throw new Error(`${message}Under CI=true this fails the run.`);
  console.warn(message);
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
