import { Controller, Get, Query } from '@nestjs/common';
import { StreamRegistry } from 'nestjs-meridian-stream';

@Controller()
export class HealthController {
  constructor(private readonly registry: StreamRegistry) {}

  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Registry statistics plus `process.memoryUsage()` and the process's active resources by type
   * (sockets, timers, ...), for leak checks; `?gc=1` collects garbage first (needs --expose-gc).
   */
  @Get('stats')
  stats(@Query('gc') gc?: string): object {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (gc === '1' && collect) collect();
    const resources: Record<string, number> = {};
    for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
    return { ...this.registry.stats(), gcAvailable: Boolean(collect), memory: process.memoryUsage(), resources };
  }
}
