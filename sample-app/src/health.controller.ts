import { Controller, Get, Query } from '@nestjs/common';
import { StreamRegistry } from 'nestjs-meridian-stream';

@Controller()
export class HealthController {
  constructor(private readonly registry: StreamRegistry) {}

  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Registry statistics plus `process.memoryUsage()`; `?gc=1` collects garbage first (needs --expose-gc). */
  @Get('stats')
  stats(@Query('gc') gc?: string): object {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (gc === '1' && collect) collect();
    return { ...this.registry.stats(), gcAvailable: Boolean(collect), memory: process.memoryUsage() };
  }
}
