import { Controller, Get, Header } from '@nestjs/common';
import { Registry } from 'prom-client';

/**
 * `GET /metrics`: the streaming metrics (nestjs-meridian-stream/prometheus) in Prometheus' text
 * format. The registry is the app's own, not prom-client's global one, so that several apps can
 * run in one process (the tests do); an app of your own can serve the global one with
 * `@willsoto/nestjs-prometheus` (docs/metrics.md).
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
