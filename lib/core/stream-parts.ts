import type { StoredStreamMeta } from './event-store.js';
import type { ResolvedStreamOptions } from './options.js';
import type { ClientEndReason } from './stream-client.js';
import { StreamClients } from './stream-clients.js';
import { StreamHistory } from './stream-history.js';
import { StreamLog } from './stream-log.js';
import type { StreamHooks } from './stream-origin.js';
import { StreamPersistence } from './stream-persistence.js';
import { UnstoredLimit } from './unstored-limit.js';

/** What a stream's parts need to know of the stream itself. */
export interface StreamCore {
  readonly id: string;
  readonly epoch: string;
  readonly options: ResolvedStreamOptions;
  readonly isFinished: boolean;
  /** A followed stream whose producer the bus declared lost (see `FollowedStream`). */
  readonly producerLost?: boolean;
  /** Produced on another instance, followed here through the bus. */
  readonly follower: boolean;
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
  const commit = options.durability === 'commit';
  // Only where the stream is produced and stored is anything held unstored.
  const unstored =
    hooks.store && !start.readOnly
      ? new UnstoredLimit({
          unstoredBytes: () => log.sentBytes - (log.buffer.endOffset(persistence.persistedThrough) ?? log.sentBytes),
          isFinished: () => stream.isFinished,
          maxBytes: options.maxUnstoredBytes,
          failAfterMs: options.unstoredFailAfterMs,
          pool: hooks.unstored,
          fail: (error) => stream.fail(error),
        })
      : undefined;
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
      // With commit durability, group commit takes the timer's place; the final event must be written.
      everyMs: commit ? 0 : options.persistEveryMs,
      onFinish: commit || options.persistOnFinish,
      groupCommitMs: commit ? options.groupCommitMs : 0,
    },
    logger: hooks.logger,
    storedThrough: start.storedThrough,
    readOnly: start.readOnly,
    onPersisted: (through) => {
      hooks.bus?.persisted(id, through);
      unstored?.changed();
      if (commit) clients.deliver();
    },
    onFatal: (error) => stream.fail(error),
    unstored,
    onWrite: hooks.onStoreWrite,
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
  // With commit durability clients see only what the store holds (a follower learns it from the bus).
  const visible = commit
    ? () => (stream.producerLost ? log.sequence : Math.min(log.sequence, persistence.persistedThrough))
    : () => log.sequence;
  const view = {
    id,
    epoch,
    options,
    follower: stream.follower,
    get lastSequence() {
      return visible();
    },
    get isFinished() {
      return stream.isFinished && visible() === log.sequence;
    },
    get sentBytes() {
      return log.sentBytes;
    },
    buffer: log.buffer,
    get tail() {
      return log.tail;
    },
    canReadHistory: (sequence: number) => persistence.hasStore && sequence < persistence.persistedThrough,
    readHistory: (sequence: number, first: boolean) => history!.read(sequence, persistence.persistedThrough, first),
  };
  const clients: StreamClients = new StreamClients(view, hooks, onClientEnd);
  return { log, persistence, clients };
}
