import { BadRequestException } from '@nestjs/common';

/** Body of `POST /streams`; every field is optional. */
export interface CreateStreamRequest {
  /** Number of `text_delta` events. */
  readonly events: number;
  /** Pause between events in ms; 0 sends one event per event-loop turn. */
  readonly intervalMs: number;
  /** Approximate bytes of `text` per event. */
  readonly size: number;
  /** Fail with the final `error` event after this many events. */
  readonly failAfter?: number;
  /** Wait this long before the first event. */
  readonly startDelayMs: number;
  /** `blocks`: a client catching up from the database gets joined `text_block` events. */
  readonly catchup?: 'events' | 'blocks';
  /**
   * Write prose instead of filler: a canned answer chosen by the prompt, one word-sized token per
   * event, `intervalMs` apart on average (with jitter). `events` then caps the number of tokens.
   */
  readonly prompt?: string;
  /** The chat this answer belongs to: stored as the stream's metadata, found by `GET /chats/:chatId/stream`. */
  readonly chatId?: string;
}

const FIELDS: Record<
  Exclude<keyof CreateStreamRequest, 'catchup' | 'prompt' | 'chatId'>,
  { min: number; max: number; default?: number }
> = {
  events: { min: 0, max: 10_000_000, default: 20 },
  intervalMs: { min: 0, max: 60_000, default: 50 },
  size: { min: 1, max: 1_000_000, default: 8 },
  failAfter: { min: 0, max: 10_000_000 },
  startDelayMs: { min: 0, max: 600_000, default: 0 },
};

/**
 * Validates the parsed JSON body (undefined: no body, all defaults), filling defaults; anything
 * else is a 400 that says what is wrong. `null`, arrays and other JSON values are no object.
 */
export function parseCreateStreamRequest(body: unknown): CreateStreamRequest {
  if (body === undefined) body = {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException('The body must be a JSON object, e.g. {"events": 20, "intervalMs": 50}.');
  }
  const { catchup, prompt, chatId, ...input } = body as Record<string, unknown>;
  if (chatId !== undefined && (typeof chatId !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(chatId))) {
    throw new BadRequestException('chatId must be 1 to 128 characters of A-Z, a-z, 0-9, "_" and "-".');
  }
  if (catchup !== undefined && catchup !== 'events' && catchup !== 'blocks') {
    throw new BadRequestException('catchup must be "events" or "blocks".');
  }
  if (prompt !== undefined && (typeof prompt !== 'string' || prompt.length > 2_000)) {
    throw new BadRequestException('prompt must be a string of at most 2000 characters.');
  }
  // With a prompt, the answer decides the length unless events is given.
  if (prompt !== undefined && input.events === undefined) input.events = FIELDS.events.max;
  // Own keys only: `key in FIELDS` would take "constructor" or "__proto__" for a field.
  const unknown = Object.keys(input).filter((key) => !Object.hasOwn(FIELDS, key));
  if (unknown.length > 0) {
    throw new BadRequestException(
      `Unknown field(s): ${unknown.join(', ')}. Known: ${[...Object.keys(FIELDS), 'catchup', 'prompt', 'chatId'].join(', ')}.`,
    );
  }
  const result: Record<string, number | undefined> = {};
  for (const [name, rule] of Object.entries(FIELDS)) {
    const value = input[name] ?? rule.default;
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
      throw new BadRequestException(`${name} must be a whole number from ${rule.min} to ${rule.max}.`);
    }
    result[name] = value;
  }
  return {
    ...result,
    ...(catchup === undefined ? {} : { catchup }),
    ...(prompt === undefined ? {} : { prompt }),
    ...(chatId === undefined ? {} : { chatId }),
  } as unknown as CreateStreamRequest;
}
