/**
 * Every error the library throws on purpose. Each carries an HTTP status in the shape of the
 * `http-errors` package (`statusCode`, `status`, `expose`), so NestJS' default exception filter
 * answers with that status and message without the core importing anything from Nest.
 */
export abstract class MeridianStreamError extends Error {
  /** A stable, machine-readable code, e.g. `STREAM_NOT_FOUND`. */
  abstract readonly code: string;
  /** The HTTP status that fits when the error is answered to a client. */
  readonly statusCode: number;
  /** Same as {@link statusCode}; the `http-errors` signature wants both. */
  readonly status: number;
  /** The message is written for the client and may be shown to it. */
  readonly expose = true;

  protected constructor(message: string, statusCode: number) {
    super(message);
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.status = statusCode;
  }
}

/** No stream with this id is known (never created, or removed after its retention). */
export class StreamNotFoundError extends MeridianStreamError {
  readonly code = 'STREAM_NOT_FOUND';
  /** @param streamId The id that was asked for. */
  constructor(readonly streamId: string) {
    super(`Stream "${truncate(streamId)}" does not exist or has expired.`, 404);
  }
}

/** `create()` was given an id that is already in use. */
export class StreamAlreadyExistsError extends MeridianStreamError {
  readonly code = 'STREAM_ALREADY_EXISTS';
  /** @param streamId The id that is taken. */
  constructor(readonly streamId: string) {
    super(
      `A stream with id "${truncate(streamId)}" already exists (here, on another instance, or in the store). Omit the id to get a generated one, or remove() the old stream first.`,
      409,
    );
  }
}

/** A client's `Last-Event-ID` is not an id this library issues, or is ahead of the stream. */
export class InvalidEventIdError extends MeridianStreamError {
  readonly code = 'INVALID_EVENT_ID';
  /**
   * @param eventId The `Last-Event-ID` the client sent.
   * @param reason What is wrong with it, for the message.
   */
  constructor(
    readonly eventId: string,
    reason: string,
  ) {
    super(`Invalid Last-Event-ID "${truncate(eventId)}": ${reason}`, 400);
  }
}

/** A value given to `send()` or to the options cannot be used as it is. */
export class InvalidStreamInputError extends MeridianStreamError {
  readonly code = 'INVALID_STREAM_INPUT';
  constructor(message: string) {
    super(message, 400);
  }
}

/**
 * A stream's `metadata` is not a small plain JSON object: 400, or 413 when it is over
 * `MAX_METADATA_BYTES` (4 KiB) as JSON. The message names the fix.
 */
export class StreamMetadataError extends MeridianStreamError {
  readonly code = 'INVALID_STREAM_METADATA';
  constructor(message: string, statusCode: 400 | 413) {
    super(message, statusCode);
  }
}

/** One event is larger than `maxEventBytes`. */
export class EventTooLargeError extends MeridianStreamError {
  readonly code = 'EVENT_TOO_LARGE';
  constructor(bytes: number, limit: number) {
    super(
      `Event data is ${bytes} bytes, more than maxEventBytes (${limit}). Split it into smaller events or raise maxEventBytes.`,
      413,
    );
  }
}

/** A capacity limit (`maxStreams`, `maxClientsPerStream`, `maxClients`) was reached. */
export class StreamLimitError extends MeridianStreamError {
  readonly code = 'STREAM_LIMIT_REACHED';
  /**
   * @param limit The option whose limit was reached.
   * @param value Its value.
   * @param subject What reached it, for the message (e.g. `The registry`).
   */
  constructor(
    readonly limit: 'maxStreams' | 'maxClientsPerStream' | 'maxClients',
    value: number,
    subject: string,
  ) {
    super(
      `${subject} reached ${limit} (${value}). Try again later, or raise ${limit} in the StreamingModule options.`,
      503,
    );
  }
}

/** `send()` or `cancel()` on an instance that follows a stream produced on another instance. */
export class StreamProducedElsewhereError extends MeridianStreamError {
  readonly code = 'STREAM_PRODUCED_ELSEWHERE';
  /**
   * @param streamId The stream.
   * @param what The call that must be made on the producing instance, e.g. `send()`.
   */
  constructor(
    readonly streamId: string,
    what: string,
  ) {
    super(`Stream "${truncate(streamId)}" is produced on another instance; call ${what} there.`, 409);
  }
}

/**
 * The reason a producer's `signal` aborts when its instance lost the stream: its lease ran out
 * (a long pause, a blocked event loop) and another instance ended the stream with `producer_lost`.
 * Whatever it sends from then on is dropped; nothing of it reaches any client or the store.
 */
export class StreamProducerLostError extends MeridianStreamError {
  readonly code = 'PRODUCER_LOST';
  /** @param streamId The stream. */
  constructor(readonly streamId: string) {
    super(
      `Stream "${truncate(streamId)}" was ended by another instance: this instance stopped renewing its lease in time (a long pause or a blocked event loop). Raise the bus's leaseMs if such pauses are expected.`,
      409,
    );
  }
}

/**
 * Why a stream shared through a bus failed when the bus stopped taking its events (Redis away or
 * too slow): more than `bufferMaxBytes` of events waited for it. Logged; clients see a generic error.
 */
export class BusBehindError extends MeridianStreamError {
  readonly code = 'BUS_BEHIND';
  /** @param streamId The stream. */
  constructor(readonly streamId: string) {
    super(
      `Stream "${truncate(streamId)}": the bus did not take its events in time (more than bufferMaxBytes waiting); check that Redis is reachable, or raise bufferMaxBytes.`,
      503,
    );
  }
}

/** An interjection would take a stream's interjection buffer past `interjectionMaxBytes` (413). */
export class InterjectionTooLargeError extends MeridianStreamError {
  readonly code = 'INTERJECTION_TOO_LARGE';
  /**
   * @param bytes What the queued text would have been, in bytes.
   * @param limit The stream's `interjectionMaxBytes`.
   */
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `The interjection would make the stream's queued text ${bytes} bytes, more than interjectionMaxBytes (${limit}). Send shorter text, use mode "replace", wait until the producer has taken in what is queued, or raise interjectionMaxBytes.`,
      413,
    );
  }
}

/** Something only a running stream takes (an interjection) was sent to a finished one (409). */
export class StreamFinishedError extends MeridianStreamError {
  readonly code = 'STREAM_FINISHED';
  /**
   * @param streamId The stream.
   * @param what What was refused, for the message (e.g. `an interjection`).
   */
  constructor(
    readonly streamId: string,
    what: string,
  ) {
    super(`Stream "${truncate(streamId)}" has finished; it takes no ${what} any more. Start a new stream.`, 409);
  }
}

/** A request for a stream's producer (an interjection) got no answer from the instance producing it. */
export class ProducerUnreachableError extends MeridianStreamError {
  readonly code = 'PRODUCER_UNREACHABLE';
  /**
   * @param streamId The stream.
   * @param why What happened and what to do.
   */
  constructor(
    readonly streamId: string,
    why: string,
  ) {
    super(`Stream "${truncate(streamId)}": ${why}`, 503);
  }
}

/**
 * The client already has the final event of a finished stream: nothing is left to send. Answered
 * 204 No Content, the SSE spec's way to tell EventSource to stop reconnecting.
 */
export class StreamFullyDeliveredError extends MeridianStreamError {
  readonly code = 'STREAM_FULLY_DELIVERED';
  /** @param streamId The stream. */
  constructor(readonly streamId: string) {
    super(`Stream "${truncate(streamId)}" has finished and this client has received all of it.`, 204);
  }
}

/** The registry is shutting down and accepts no new streams or clients. */
export class RegistryClosedError extends MeridianStreamError {
  readonly code = 'REGISTRY_CLOSED';
  constructor() {
    super('The stream registry is shutting down; connect to another instance or retry shortly.', 503);
  }
}

/**
 * Throw this from a producer to show its message to clients in the final `error` event.
 * Any other error reaches clients as a generic message and is logged with its details.
 */
export class PublicStreamError extends Error {
  /** Its message may be shown to clients. */
  readonly expose = true;
  constructor(message: string) {
    super(message);
    this.name = 'PublicStreamError';
  }
}

/**
 * The final `error` event of a stream whose store stayed unavailable past its limits
 * (`maxUnstoredBytes`, `maxUnstoredBytesTotal`, `unstoredFailAfterMs`): the stream stopped rather
 * than let the process run out of memory. What it had sent stays in memory and is written once
 * the store is back.
 */
export class StoreUnavailableError extends PublicStreamError {
  readonly code = 'STORE_UNAVAILABLE';
  /** @param why Which limit was passed, e.g. `over maxUnstoredBytes for 30000 ms`. */
  constructor(readonly why: string) {
    super(
      `The event store is unavailable (${why}): the stream was stopped so that the server does not run out of memory. What was sent is kept and stored once the store is back.`,
    );
    this.name = 'StoreUnavailableError';
  }
}

function truncate(value: string, max = 80): string {
  // Cut first: cleaning a megabyte-long value only to show 80 characters of it is wasted work.
  const printable = value.slice(0, max + 1).replace(/[^\x20-\x7e]/g, '?');
  return value.length > max ? `${printable.slice(0, max)}...` : printable;
}
