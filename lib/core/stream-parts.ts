import type { StoredStreamMeta } from './event-store.js';
import type { ResolvedStreamOptions } from './options.js';
import type { ClientEndReason } from './stream-client.js';
import { StreamClients } from './stream-clients.js';
import { StreamHistory } from './stream-history.js';
import { StreamLog } from './stream-log.js';
import type { StreamHooks } from './stream-origin.js';
import { StreamPersistence } from './stream-persistence.js';

/** What a stream's parts need to know of the stream itself. */
export interface StreamCore {
  readonly id: string;
  readonly epoch: string;
  readonly options: ResolvedStreamOptions;
  readonly isFinished: boolean;
  meta(): StoredStreamMeta;
  fail(error: unknown): boolean;
}

/** Where a stream starts: after which sequence, how far it is stored, and whether it writes. */
export interface StreamStart {
  readonly startAfter: number;
  readonly storedThrough: number;
  /** Served from the store or followed: the store is written where the stream is produced. */
  readonly readOnly: boolean;
}

/** The parts of a stream: its log, its persistence and its clients. */
export interface StreamParts {
  readonly log: StreamLog;
  readonly persistence: StreamPersistence;
  readonly clients: StreamClients;
}

/** Builds a stream's parts, each seeing the others only through what it needs. */
export function buildStreamParts(
  stream: StreamCore,
  hooks: StreamHooks,
  start: StreamStart,
  onClientEnd: (reason: ClientEndReason) => void,
): StreamParts {
  const { id, epoch, options } = stream;
  const persistence: StreamPersistence = new StreamPersistence({
    stream: {
      id,
      get lastSequence(): number {
        return log.sequence;
      },
      meta: () => stream.meta(),
      eventsBetween: (from, to) => log.buffer.slice(from, to),
      dropThrough: (sequence) => log.buffer.dropThrough(sequence),
      trimToLimits: () => log.buffer.trim(),
    },
    store: hooks.store,
    auto: {
      everyEvents: options.persistEveryEvents,
      everyMs: options.persistEveryMs,
      onFinish: options.persistOnFinish,
    },
    logger: hooks.logger,
    storedThrough: start.storedThrough,
    readOnly: start.readOnly,
    onPersisted: (through) => hooks.bus?.persisted(id, through),
    onFatal: (error) => stream.fail(error),
  });
  const log: StreamLog = new StreamLog(
    epoch,
    start.startAfter,
    { maxEvents: options.bufferMaxEvents, maxBytes: options.bufferMaxBytes },
    (sequence) => persistence.canEvict(sequence),
  );
  const history =
    hooks.store &&
    new StreamHistory(id, epoch, options, hooks.store, hooks.logger, () => hooks.onStoreGone?.(id, epoch));
  const view = {
    id,
    epoch,
    options,
    get lastSequence() {
      return log.sequence;
    },
    get isFinished() {
      return stream.isFinished;
    },
    get sentBytes() {
      return log.sentBytes;
    },
    buffer: log.buffer,
    canReadHistory: (sequence: number) => persistence.hasStore && sequence < persistence.persistedThrough,
    readHistory: (sequence: number, first: boolean) => history!.read(sequence, persistence.persistedThrough, first),
  };
  return { log, persistence, clients: new StreamClients(view, hooks, onClientEnd) };
}
