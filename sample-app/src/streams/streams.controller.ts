import { Body, Controller, Delete, Param, Post } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { LastEventId, ResumableSse, StreamRegistry, type SseMessage } from 'nestjs-meridian-stream';
import { parseCreateStreamRequest } from './create-stream-request.js';
import { demoProducer } from './demo-producer.js';

@Controller('streams')
export class StreamsController {
  constructor(private readonly registry: StreamRegistry) {}

  /** Starts a demo stream: 201 `{ stream_id, stream_url }`. */
  @Post()
  create(@Body() body: unknown): { stream_id: string; stream_url: string } {
    const stream = this.registry.create(demoProducer(parseCreateStreamRequest(body)));
    return { stream_id: stream.id, stream_url: `/streams/${stream.id}` };
  }

  /**
   * The event stream; resumes after `Last-Event-ID` (or `?lastEventId=`). `@ResumableSse` is
   * `@Sse(':id')` plus the guard (404 / 400 / 204 before headers) and the flow-control interceptor.
   */
  @ResumableSse(':id')
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string): Observable<SseMessage> {
    return this.registry.observe(id, lastEventId);
  }

  /** Cancels the stream: clients get the final `cancelled` event. */
  @Delete(':id')
  cancel(@Param('id') id: string): { stream_id: string; state: string } {
    const stream = this.registry.require(id);
    stream.cancel();
    return { stream_id: id, state: stream.state };
  }
}
