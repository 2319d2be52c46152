import { randomBytes } from 'node:crypto';
import type { StreamLogger } from '../core/logger.js';
import type { ControlMessage } from '../core/stream-bus.js';
import type { ChannelSubscriptions } from './redis-subscriptions.js';

/** A control message sent by `request()`: where the producer publishes its answer. */
interface RequestMessage extends ControlMessage {
  readonly replyTo?: string;
}

/** What travels back on a reply channel. */
interface ReplyMessage {
  readonly id: string;
  readonly answer?: unknown;
}

/**
 * What the producing instance does with a message on a stream's control channel: any instance may
 * publish there, so a malformed one (not JSON, no `type`) is logged and dropped, and the stream's
 * handler failing does not reach the subscriber connection. A request (`id` and `replyTo`, a reply
 * channel of this bus's prefix) is answered with what the handler returned.
 */
export function controlListener(
  streamId: string,
  onControl: (message: ControlMessage) => unknown,
  logger: StreamLogger,
  reply?: { readonly prefix: string; publish(channel: string, payload: string): Promise<unknown> },
): (raw: string) => void {
  return (raw) => {
    let message: RequestMessage | undefined;
    try {
      message = JSON.parse(raw) as RequestMessage;
    } catch {
      message = undefined;
    }
    if (typeof message?.type !== 'string') {
      return void logger.warn(`Stream ${streamId}: ignored a malformed control message.`);
    }
    const { replyTo, ...control } = message;
    let answer: unknown;
    try {
      answer = onControl(control);
    } catch (error) {
      logger.error(`Stream ${streamId}: handling a control message failed`, (error as Error).stack);
    }
    if (!reply || typeof control.id !== 'string' || typeof replyTo !== 'string') return;
    if (!replyTo.startsWith(reply.prefix)) {
      return void logger.warn(`Stream ${streamId}: ignored a control request's reply channel outside the key prefix.`);
    }
    const payload: ReplyMessage = { id: control.id, answer };
    reply
      .publish(replyTo, JSON.stringify(payload))
      .catch((error: Error) => logger.warn(`Stream ${streamId}: answering a control request failed: ${error.message}`));
  };
}

/**
 * The requesting side of control requests: one reply shard channel per instance
 * (`P{i:<instanceId>}:replies`), subscribed at first use on the bus's subscriber connection; each
 * request waits for the answer with its id, or for its timeout.
 */
export class ControlRequests {
  private readonly pending = new Map<string, (answer: unknown) => void>();
  private subscribed: Promise<void> | undefined;
  private next = 0;
  private readonly idPrefix = randomBytes(4).toString('hex');

  constructor(
    /** This instance's reply channel. */
    readonly channel: string,
    private readonly subscriptions: ChannelSubscriptions,
    private readonly logger: StreamLogger,
  ) {}

  /**
   * Publishes the request with `publish` (resolving the number of receivers) and resolves the
   * answer, or undefined when nobody received it or no answer came within `timeoutMs`.
   */
  async request(
    message: ControlMessage,
    timeoutMs: number,
    publish: (payload: string) => Promise<number>,
  ): Promise<unknown> {
    this.subscribed ??= this.subscriptions.add(this.channel, (raw) => this.replied(raw));
    await this.subscribed;
    const id = `${this.idPrefix}-${++this.next}`;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      timer.unref();
      const settle = (answer: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(answer);
      };
      this.pending.set(id, settle);
      const request: RequestMessage = { ...message, id, replyTo: this.channel };
      publish(JSON.stringify(request)).then(
        (receivers) => {
          if (receivers === 0) settle(undefined);
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(error);
        },
      );
    });
  }

  /** Resolves every waiting request with undefined (shutdown). */
  stop(): void {
    for (const settle of [...this.pending.values()]) settle(undefined);
  }

  private replied(raw: string): void {
    let reply: ReplyMessage | undefined;
    try {
      reply = JSON.parse(raw) as ReplyMessage;
    } catch {
      reply = undefined;
    }
    if (typeof reply?.id !== 'string') return void this.logger.warn('Ignored a malformed control reply.');
    // An answer after its timeout finds nobody waiting.
    this.pending.get(reply.id)?.(reply.answer);
  }
}
