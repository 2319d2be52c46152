import 'reflect-metadata';
import net from 'node:net';
import { Controller, Get, Inject, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { StreamingModule, type StreamingModuleOptions } from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { StreamingHealthIndicator } from 'nestjs-meridian-stream/terminus';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { PrivateRedis } from '../support/private-redis.js';
import { redisAvailable } from '../support/redis.js';
import { freePort } from '../support/spawned-app.js';

@Controller()
class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(StreamingHealthIndicator) private readonly streaming: StreamingHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.streaming.isHealthy()]);
  }
}

async function startApp(
  options: StreamingModuleOptions,
): Promise<{ app: INestApplication; health: () => Promise<Response> }> {
  @Module({
    imports: [TerminusModule, StreamingModule.forRoot({ logger: false, ...options })],
    controllers: [HealthController],
    providers: [StreamingHealthIndicator],
  })
  class HealthModule {}
  const app = await NestFactory.create(HealthModule, { logger: false });
  await app.listen(await freePort(), '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}`;
  return { app, health: () => fetch(`${base}/health`) };
}

type HealthBody = { status: string; info?: Record<string, unknown>; error?: Record<string, Record<string, unknown>> };

describe('StreamingHealthIndicator (@nestjs/terminus)', () => {
  it('is up without a store or bus, with the registry figures', async () => {
    const { app, health } = await startApp({});
    const response = await health();
    expect(response.status).toBe(200);
    const body = (await response.json()) as HealthBody;
    expect(body.info?.streaming).toMatchObject({ status: 'up', streams: 0, clients: 0, store: 'none', bus: 'none' });
    await app.close();
  });

  it('goes down (503) when the store stops answering, naming it', async () => {
    const db: TestDatabase = await openTestDatabase('sqlite');
    const { app, health } = await startApp({ store: new TypeOrmEventStore(db.dataSource) });
    expect((await health()).status).toBe(200);
    await db.close();
    const response = await health();
    expect(response.status).toBe(503);
    const body = (await response.json()) as HealthBody;
    expect(body.error?.streaming).toMatchObject({ status: 'down', store: 'down' });
    expect(String(body.error?.streaming.message)).toMatch(/event store/);
    await app.close();
  });

  // Needs redis-server on this machine for a private server, as the other Redis suites do.
  (redisAvailable() ? it : it.skip)(
    'goes down when Redis is gone and up again when it is back',
    async () => {
      const redis = await new PrivateRedis().start();
      const bus = new RedisStreamBus({ connection: redis.url, blockMs: 100 });
      const { app, health } = await startApp({ bus });
      expect((await health()).status).toBe(200);
      await redis.kill();
      const down = await health();
      expect(down.status).toBe(503);
      expect(((await down.json()) as HealthBody).error?.streaming).toMatchObject({ status: 'down', bus: 'down' });
      await redis.start();
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        status = (await health()).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(200);
      await app.close();
      await redis.kill();
    },
    30_000,
  );
});
