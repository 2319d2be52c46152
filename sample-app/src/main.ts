import type { StreamingModuleOptions } from 'nestjs-meridian-stream';
import { createSampleApp, type HttpAdapterName } from './create-app.js';

/** Optional numeric settings from the environment, e.g. HEARTBEAT_MS=5000. */
function streamingOptionsFromEnv(): StreamingModuleOptions {
  const read = (name: string): number | undefined => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`${name} must be a whole number >= 0, got "${raw}".`);
    return value;
  };
  return {
    heartbeatMs: read('HEARTBEAT_MS'),
    retentionMs: read('RETENTION_MS'),
    shutdownGraceMs: read('SHUTDOWN_GRACE_MS'),
    shutdownDrainMs: read('DRAIN_MS'),
    bufferMaxEvents: read('BUFFER_MAX_EVENTS'),
    bufferMaxBytes: read('BUFFER_MAX_BYTES'),
    maxClientBacklogBytes: read('MAX_CLIENT_BACKLOG_BYTES'),
    persistEveryMs: read('PERSIST_EVERY_MS'),
    // 0 or unset: off, the database keeps every stream.
    storeRetentionMs: read('STORE_RETENTION_MS') || undefined,
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  const adapter = (process.env.HTTP_ADAPTER ?? 'express') as HttpAdapterName;
  const app = await createSampleApp({
    adapter,
    streaming: streamingOptionsFromEnv(),
    databaseUrl: process.env.DATABASE_URL || undefined,
    redisUrl: process.env.REDIS_URL || undefined,
    redisPrefix: process.env.REDIS_PREFIX || undefined,
    leaseMs: process.env.LEASE_MS ? Number(process.env.LEASE_MS) : undefined,
  });
  app.enableShutdownHooks();
  await app.listen(port, host);
  const hide = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
  const database = process.env.DATABASE_URL ? hide(process.env.DATABASE_URL) : 'embedded SQLite';
  const redis = process.env.REDIS_URL ? `, shared through ${hide(process.env.REDIS_URL)}` : '';
  console.log(
    `nestjs-meridian-stream sample app: http://localhost:${port}/ (listening on ${host}:${port}, ${adapter}, ${database}${redis})`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
