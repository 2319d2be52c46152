import { parseJsonEventStream, uiMessageChunkSchema } from 'ai';
import { StreamRegistry } from 'nestjs-meridian-stream';
import { UI_MESSAGE_STREAM_FORMAT } from '../../lib/http/sse-wire-format.js';
import { isStreamEvent, type SseMessage } from '../../lib/core/stream-event.js';
import type { ResumableStream } from '../../lib/core/stream.js';

/** The UI message stream text of every message of a stream, as `@StreamResponse()` writes it. */
async function wire(stream: ResumableStream): Promise<string> {
  await stream.whenFinished();
  const messages: SseMessage[] = [];
  await new Promise<void>((resolve, reject) =>
    stream.observe(undefined).subscribe({ next: (m) => messages.push(m), complete: resolve, error: reject }),
  );
  return messages.map((message) => UI_MESSAGE_STREAM_FORMAT.frameOf(message, stream).toString()).join('');
}

/** What the AI SDK's client parser (`DefaultChatTransport`'s) makes of the text. */
async function parse(text: string): Promise<unknown[]> {
  const parsed = parseJsonEventStream({ stream: new Response(text).body!, schema: uiMessageChunkSchema });
  const chunks: unknown[] = [];
  for await (const result of parsed) {
    if (!result.success) throw result.error;
    chunks.push(result.value);
  }
  return chunks;
}

describe('UI_MESSAGE_STREAM_FORMAT (the AI SDK UI message stream)', () => {
  const registry = new StreamRegistry();
  afterAll(() => registry.shutdown({ graceMs: 0 }));
  const text = { type: 'text-delta', id: 't', delta: 'hi' };

  it('a completed stream: chunks with ids, then [DONE] for the final event', async () => {
    const out = await wire(registry.create(async ({ send }) => void send({ data: text })));
    expect(out).toMatch(
      /^id: \S+-1\ndata: \{"type":"text-delta","id":"t","delta":"hi"\}\n\nid: \S+-2\ndata: \[DONE\]\n\n$/,
    );
    expect(await parse(out)).toEqual([text]);
  });

  it('a failed stream: an error chunk with the public message, then [DONE]', async () => {
    const out = await wire(
      registry.create(async ({ send }) => {
        send({ data: text });
        throw new Error('secret');
      }),
    );
    expect(await parse(out)).toEqual([text, { type: 'error', errorText: 'The stream failed.' }]);
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('a cancelled stream: an abort chunk with the reason, then [DONE]', async () => {
    const stream = registry.create();
    stream.send({ data: text });
    stream.cancel('stopped');
    expect(await parse(await wire(stream))).toEqual([text, { type: 'abort', reason: 'stopped' }]);
  });

  it('a reset marker is sent as its id only; heartbeats stay comments', async () => {
    const stream = registry.create();
    stream.send({ data: text });
    stream.complete();
    const reset = { id: `${stream.epoch}-0`, type: 'reset', data: '{"reason":"unknown_epoch"}' } as SseMessage;
    expect(isStreamEvent(reset)).toBe(false);
    expect(UI_MESSAGE_STREAM_FORMAT.frameOf(reset, stream).toString()).toBe(`id: ${stream.epoch}-0\n\n`);
    expect(UI_MESSAGE_STREAM_FORMAT.frameOf({ comment: 'heartbeat' }, stream).toString()).toBe(': heartbeat\n\n');
    expect(UI_MESSAGE_STREAM_FORMAT.headers).toEqual({ 'x-vercel-ai-ui-message-stream': 'v1' });
  });
});
