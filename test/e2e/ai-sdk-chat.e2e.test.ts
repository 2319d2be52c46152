import 'reflect-metadata';
import type net from 'node:net';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Module,
  Param,
  Post,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  convertToModelMessages,
  DefaultChatTransport,
  readUIMessageStream,
  streamText,
  type UIMessage,
  type UIMessageChunk,
} from 'ai';
import { MockLanguageModelV3, simulateReadableStream } from 'ai/test';
import { StreamingModule, StreamRegistry, StreamResponse, type ResumableStream } from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { within } from '../support/eventually.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { freePort } from '../support/spawned-app.js';

/**
 * The Vercel AI SDK's resumable chat (`useChat({ resume: true })`) served by Nest, driven from
 * Node with the SDK's own client side (`DefaultChatTransport`, `readUIMessageStream`): two
 * in-process Nest apps, each with its own registry, sharing streams through Redis; the answer
 * comes from `streamText()` over a mock model, one word every few ms.
 */

const WORDS = Array.from({ length: 60 }, (_, i) => `word${i}`);
const DELAY_MS = 15;

/** A model that answers every prompt with WORDS, one text delta every DELAY_MS. */
function mockModel(): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    doStream: async () => ({
      stream: simulateReadableStream({
        chunkDelayInMs: DELAY_MS,
        chunks: [
          { type: 'stream-start', warnings: [] },
          { type: 'text-start', id: 't1' },
          ...WORDS.map((word, i) => ({ type: 'text-delta' as const, id: 't1', delta: i === 0 ? word : ` ${word}` })),
          { type: 'text-end', id: 't1' },
          {
            type: 'finish',
            finishReason: { unified: 'stop', raw: 'stop' },
            usage: {
              inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
              outputTokens: { total: WORDS.length, text: WORDS.length, reasoning: undefined },
            },
          },
        ],
      }),
    }),
  });
}

/** What `toUIMessageStream({ onFinish })` reported, where an app saves the chat. */
const finished: { chatId: string; isAborted: boolean; responseMessage: UIMessage }[] = [];

@Controller('api/chat')
class ChatController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  /** useChat's POST: starts the answer as a stream and answers with it. */
  @Post()
  @StreamResponse({ format: 'ui-message-stream' })
  async send(@Body() body: { id: string; messages: UIMessage[] }): Promise<ResumableStream> {
    const result = streamText({ model: mockModel(), messages: await convertToModelMessages(body.messages) });
    const stream = this.registry.create(
      result.toUIMessageStream({
        originalMessages: body.messages,
        generateMessageId: () => `answer-${body.messages.length}`,
        onFinish: ({ isAborted, responseMessage }) =>
          void finished.push({ chatId: body.id, isAborted, responseMessage }),
      }),
      // Found again by chat id on any instance (the module's activeKeys).
      { metadata: { chatId: body.id } },
    );
    await stream.whenShared();
    return stream;
  }

  /** useChat's resume: the running answer from its start, or 204. */
  @Get(':chatId/stream')
  @StreamResponse({ format: 'ui-message-stream' })
  async resume(@Param('chatId') chatId: string): Promise<ResumableStream | undefined> {
    return this.registry.findActive({ chatId });
  }

  /** Stop, from any instance. */
  @Delete(':chatId/stream')
  @HttpCode(204)
  async stop(@Param('chatId') chatId: string): Promise<void> {
    const stream = await this.registry.findActive({ chatId });
    if (stream) await this.registry.cancel(stream.id, 'stopped by the user');
  }
}

async function startApp(prefix: string): Promise<{ app: INestApplication; base: string }> {
  @Module({
    imports: [
      StreamingModule.forRoot({
        logger: false,
        activeKeys: ['chatId'],
        bus: new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix: prefix }),
      }),
    ],
    controllers: [ChatController],
  })
  class ChatModule {}
  const app = await NestFactory.create(ChatModule, { logger: false });
  await app.listen(await freePort(), '127.0.0.1');
  return { app, base: `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}` };
}

const userMessage = (text: string): UIMessage => ({ id: 'user-1', role: 'user', parts: [{ type: 'text', text }] });

/** The assistant message the SDK assembles from a UI message chunk stream (its last snapshot). */
async function assemble(stream: ReadableStream<UIMessageChunk>): Promise<UIMessage | undefined> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream, terminateOnError: true })) last = message;
  return last;
}

const describeIfRedis = redisAvailable() ? describe : describe.skip;

describeIfRedis('Vercel AI SDK resumable chat on two Nest instances sharing Redis', () => {
  let a: { app: INestApplication; base: string };
  let b: { app: INestApplication; base: string };
  const transport = (base: string) => new DefaultChatTransport<UIMessage>({ api: `${base}/api/chat` });

  beforeAll(async () => {
    const prefix = uniquePrefix();
    a = await startApp(prefix);
    b = await startApp(prefix);
  });
  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
  });

  const send = (base: string, chatId: string, abortSignal?: AbortSignal) =>
    transport(base).sendMessages({
      chatId,
      messages: [userMessage('Say the words.')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal,
    });

  it('writes the UI message stream: its header, one chunk per data line, ids, [DONE] at the end', async () => {
    const response = await fetch(`${a.base}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'wire', messages: [userMessage('Say the words.')] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const text = await response.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).not.toMatch(/^event:/m);
    const data = [...text.matchAll(/^data: (.*)$/gm)].map((match) => match[1]);
    expect(data.at(-1)).toBe('[DONE]');
    const types = data.slice(0, -1).map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types[0]).toBe('start');
    expect(types.at(-1)).toBe('finish');
    expect(types.filter((type) => type === 'text-delta')).toHaveLength(WORDS.length);
    expect([...text.matchAll(/^id: /gm)]).toHaveLength(data.length);
  });

  it('the resume route answers 204 when nothing runs (useChat then stays idle)', async () => {
    const response = await fetch(`${b.base}/api/chat/nobody/stream`);
    expect(response.status).toBe(204);
    expect(await transport(a.base).reconnectToStream({ chatId: 'nobody' })).toBeNull();
  });

  it('a chat cut mid-answer and resumed on the other instance ends with the same message as an uncut one', async () => {
    const uncut = await assemble(await send(a.base, 'uncut'));
    expect(uncut?.parts.find((part) => part.type === 'text')).toMatchObject({ text: WORDS.join(' ') });

    // The same chat, cut after a few words: the client's fetch is aborted (a disconnect, not a stop).
    const cut = new AbortController();
    const reader = (await send(a.base, 'cut', cut.signal)).getReader();
    const before: UIMessageChunk[] = [];
    while (before.filter((chunk) => chunk.type === 'text-delta').length < 5) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the answer ended before the cut');
      before.push(value);
    }
    cut.abort();
    await reader.read().catch(() => undefined);
    expect(before.some((chunk) => chunk.type === 'finish')).toBe(false);

    // Resumed on instance B, which did not produce it and does not hold it: replayed from its
    // start, then live, while A still produces it.
    const id = (await a.app.get(StreamRegistry).findActive({ chatId: 'cut' }))!.id;
    expect(a.app.get(StreamRegistry).get(id)?.isFinished).toBe(false);
    expect(b.app.get(StreamRegistry).has(id)).toBe(false);
    const resumed = await transport(b.base).reconnectToStream({ chatId: 'cut' });
    expect(resumed).not.toBeNull();
    const message = await assemble(resumed!);
    expect(message).toEqual(uncut);

    // Finished: nothing to resume any more, on either instance.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await fetch(`${a.base}/api/chat/cut/stream`)).status).toBe(204);
    expect((await fetch(`${b.base}/api/chat/cut/stream`)).status).toBe(204);
  });

  it('stop from the other instance ends the answer for its client with an abort chunk', async () => {
    const chunks: UIMessageChunk[] = [];
    const reader = (await send(a.base, 'stopped')).getReader();
    while (chunks.filter((chunk) => chunk.type === 'text-delta').length < 3) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the answer ended before the stop');
      chunks.push(value);
    }
    expect((await fetch(`${b.base}/api/chat/stopped/stream`, { method: 'DELETE' })).status).toBe(204);
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    expect(chunks.at(-1)).toEqual({ type: 'abort', reason: 'stopped by the user' });
    expect(chunks.filter((chunk) => chunk.type === 'text-delta').length).toBeLessThan(WORDS.length);
    expect(chunks.some((chunk) => chunk.type === 'finish')).toBe(false);
    expect((await fetch(`${b.base}/api/chat/stopped/stream`)).status).toBe(204);
    // The SDK's onFinish still runs on the producing instance (the cancel returns the iterator,
    // which cancels the SDK's stream), with the partial answer to save.
    await within(
      (async () => {
        while (!finished.some((entry) => entry.chatId === 'stopped')) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      () => 'onFinish was not called after the stop',
    );
    // `isAborted` is false: the SDK sets it only for its own abort signal, not for a cancelled stream.
    const partial = finished.find((entry) => entry.chatId === 'stopped')!;
    const text = partial.responseMessage.parts.find((part) => part.type === 'text');
    expect(text && 'text' in text && text.text.length).toBeGreaterThan(0);
    expect(text && 'text' in text && text.text.length).toBeLessThan(WORDS.join(' ').length);
  });
});
