import { BusAppender } from './bus-appender.js';
import {
  BusBehindError,
  MeridianStreamError,
  StreamProducerLostError,
  type InterjectionTooLargeError,
} from './errors.js';
import type { InterjectionAnswer, InterjectionMode } from './interjections.js';
import { lostEventOf, type ResolvedStreamOptions } from './options.js';
import type { BusEvent, BusOpenOptions, ControlMessage, StreamBus } from './stream-bus.js';
import type { StreamEvent, StreamState } from './stream-event.js';
import type { StreamHooks } from './stream-origin.js';
import { ResumableStream } from './stream.js';

/** How many answered request ids a stream remembers. */
const ANSWERS_KEPT = 256;

/**
 * A stream produced here and shared through a bus. Its events reach clients, here as on every
 * other instance, only once the bus holds them (one round trip to the bus); so when another
 * instance ends it (this one stopped renewing its lease), every client and the store still hold
 * one history: this instance's producer is told through its `signal` and its clients get the
 * ending the bus holds.
 */
export class SharedStream extends ResumableStream {
  private appender: BusAppender | undefined;
  /** The final event is on its way through the bus: nothing more may be sent. */
  private closing = false;
  /** Answers to the latest requests by id, so a retried one is not applied twice. */
  private readonly answered = new Map<string, { answer: unknown }>();

  /** @internal Made by `StreamRegistry.create()` when a bus is configured. */
  constructor(
    id: string,
    options: ResolvedStreamOptions,
    hooks: StreamHooks,
    private readonly bus: StreamBus,
  ) {
    super(id, options, hooks);
    this.appender = new BusAppender(bus, id, {
      accepted: (events, final) => this.accepted(events, final),
      refused: (ending) => this.refused(ending),
      failed: (error) => this.appendFailed(error),
    });
  }

  protected override busOpenOptions(): BusOpenOptions {
    return { ...super.busOpenOptions(), onControl: (message) => this.control(message) };
  }

  override get seesEventsLate(): boolean {
    return true;
  }

  protected override get takesEvents(): boolean {
    return !this.isFinished && !this.closing;
  }

  protected override append(type: string, data: string, retry: number | undefined, final?: StreamState): StreamEvent {
    if (!this.appender) return super.append(type, data, retry, final);
    const event = this.log.issue(type, data, retry);
    this.appender.push(event, final);
    // The bus is away or slow: what waits for it is bounded like the replay buffer.
    if (this.appender.pendingBytes > this.options.bufferMaxBytes && !final) this.fail(new BusBehindError(this.id));
    return event;
  }

  /** The stream ends once the bus holds its final event; its producer stops now. */
  protected override finish(state: StreamState, type: string, data: object): boolean {
    if (!this.appender) return super.finish(state, type, data);
    if (!this.takesEvents) return false;
    this.closing = true;
    this.append(type, JSON.stringify(data), undefined, state);
    this.stopProducer(new Error(`stream ${state}`));
    return true;
  }

  /** The bus holds these events: they are the stream's, for every client, here as everywhere. */
  private accepted(events: readonly StreamEvent[], final: StreamState | undefined): void {
    for (const event of events) this.tookIn(event, this.log.accept(event));
    if (!final) return this.deliver();
    this.ended(final);
    this.bus.close(this.id, this.options.retentionMs);
  }

  /**
   * Another instance ended the stream while this one was away past its lease: the producer is
   * told, and this instance's clients and store get exactly the ending the bus holds.
   */
  private refused(ending: readonly BusEvent[]): void {
    this.appender = undefined;
    this.closing = false;
    this.log.withdrawIssued();
    const lost = new StreamProducerLostError(this.id);
    this.turn.failedWith(lost);
    this.abortController.abort(lost);
    this.hooks.logger.warn(
      `Stream ${this.id}: another instance ended it after this instance's lease ran out; its producer is stopped.`,
    );
    for (const event of ending) this.ingestEvent(event);
    // The bus always holds the final event it refused for; should it not, end here alike.
    if (!this.isFinished)
      this.ingestEvent({ sequence: this.lastSequence + 1, ...lostEventOf(this.options), final: 'failed' });
  }

  /** The bus failed in a way no retry mends: the stream ends here, failed. */
  private appendFailed(error: unknown): void {
    this.appender = undefined;
    this.closing = false;
    this.log.withdrawIssued();
    this.bus.close(this.id, this.options.retentionMs);
    this.fail(error);
  }

  /**
   * A message sent to this stream from any instance through the bus; returns the answer to a
   * request (`interject`: `{ queuedBytes }` or `{ error }`). A request id seen before gets the
   * answer it got then, and changes nothing.
   */
  private control(message: ControlMessage): unknown {
    const seen = message.id === undefined ? undefined : this.answered.get(message.id);
    if (seen) return seen.answer;
    let answer: unknown;
    if (message.type === 'cancel') this.cancel(message.reason ?? 'cancelled');
    else if (message.type === 'soft-cancel') this.softCancel(message.reason ?? 'cancelled');
    else if (message.type === 'interject') answer = this.interjected(message.data);
    else this.hooks.logger.warn(`Stream ${this.id}: ignored a control message of unknown type "${message.type}".`);
    if (message.id !== undefined) {
      this.answered.set(message.id, { answer });
      if (this.answered.size > ANSWERS_KEPT) this.answered.delete(this.answered.keys().next().value!);
    }
    return answer;
  }

  private interjected(data: unknown): InterjectionAnswer {
    const { text, mode } = (data ?? {}) as { text?: unknown; mode?: unknown };
    try {
      return this.interject(text as string, mode as InterjectionMode);
    } catch (error) {
      if (!(error instanceof MeridianStreamError)) throw error;
      const { code, message } = error;
      const { bytes, limit } = error as Partial<InterjectionTooLargeError>;
      return { error: { code, message, bytes, limit } };
    }
  }
}
