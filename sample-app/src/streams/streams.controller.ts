import type { IncomingMessage } from 'node:http';
import { BadRequestException, Controller, Delete, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { AdmittedStream, ResumableSse, ResumableStream, StreamRegistry } from 'nestjs-meridian-stream';
import { nodeRequest, readJsonBody } from '../http-input.js';
import { parseCreateStreamRequest } from './create-stream-request.js';
import { demoProducer } from './demo-producer.js';
import { textBlocksCatchup } from './text-blocks.catchup.js';

@Controller('streams')
export class StreamsController {
  constructor(private readonly registry: StreamRegistry) {}

  /**
   * Starts a demo stream: 201 `{ stream_id, stream_url }`. The body is read here, from the Node.js
   * request, on Express and Fastify alike (neither parses it): see http-input.ts.
   */
  @Post()
  async create(
    @Req() httpRequest: IncomingMessage | { raw: IncomingMessage },
  ): Promise<{ stream_id: string; stream_url: string }> {
    const request = parseCreateStreamRequest(await readJsonBody(nodeRequest(httpRequest)));
    const store = this.registry.store;
    const catchup = request.catchup === 'blocks' && store ? textBlocksCatchup(store) : undefined;
    const metadata = request.chatId === undefined ? undefined : { chatId: request.chatId };
    const stream = this.registry.create(demoProducer(request), { catchup, metadata });
    // With Redis, any instance can serve the URL once this resolves.
    await stream.whenShared();
    return { stream_id: stream.id, stream_url: `/streams/${stream.id}` };
  }

  /** Persist-and-clear now: 200 `{ persisted, cleared }` (events written, events removed from memory). */
  @Post(':id/persist')
  @HttpCode(200)
  async persist(@Param('id') id: string): Promise<{ persisted: number; cleared: number }> {
    const { persisted, cleared } = await this.registry.require(id).persistAndClear();
    return { persisted, cleared };
  }

  /**
   * Interjects text into the running answer, on whichever instance produces it: 202
   * `{ queued_bytes }` once its producer holds the text (the demo producer weaves it in at its next
   * sentence end). Body `{ "text", "mode": "append" | "replace" }` (mode optional, append by
   * default). 400 for empty or whitespace-only text, 413 past 64 KiB queued, 409 once the stream
   * has finished, 404 for an unknown stream.
   */
  @Post(':id/interjections')
  @HttpCode(202)
  async interject(
    @Param('id') id: string,
    @Req() httpRequest: IncomingMessage | { raw: IncomingMessage },
  ): Promise<{ queued_bytes: number }> {
    const body = await readJsonBody(nodeRequest(httpRequest));
    const { text, mode } = (body ?? {}) as { text?: unknown; mode?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof text !== 'string') {
      throw new BadRequestException('The body must be a JSON object with "text", e.g. {"text": "make it shorter"}.');
    }
    if (mode !== undefined && mode !== 'append' && mode !== 'replace') {
      throw new BadRequestException('"mode" must be "append" or "replace".');
    }
    const { queuedBytes } = await this.registry.interject(id, text, { mode });
    return { queued_bytes: queuedBytes };
  }

  /**
   * The event stream; resumes after `Last-Event-ID` (or `?lastEventId=`). `@ResumableSse` lets the
   * client in first (404 / 400 / 204 / 503 before headers), then serves the stream it found.
   */
  @ResumableSse(':id')
  follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }

  /**
   * Cancels the stream on whichever instance produces it: every client gets the final `cancelled`
   * event. Idempotent: a finished stream answers with the state it ended in. `?soft=1` soft-cancels:
   * clients get the final event (with `soft: true`) at once, the producer is not aborted and
   * finishes on its own (200 `{ stream_id, state, soft: true }`).
   */
  @Delete(':id')
  async cancel(
    @Param('id') id: string,
    @Query('soft') soft?: string,
  ): Promise<{ stream_id: string; state: string; soft?: true }> {
    if (soft === '1' || soft === 'true')
      return { stream_id: id, state: await this.registry.softCancel(id), soft: true };
    return { stream_id: id, state: await this.registry.cancel(id) };
  }
}
