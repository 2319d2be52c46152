/**
 * `nestjs-meridian-stream`: resumable Server-Sent Events for NestJS. The Nest module
 * (`StreamingModule`, `@ResumableSse()`, `@LastEventId()`, `StreamGuard`), the stream engine
 * (`StreamRegistry`, `ResumableStream`), the errors, and the contracts of the durable store
 * (`EventStore`) and of the bus between instances (`StreamBus`).
 *
 * @module nestjs-meridian-stream
 */
export { StreamingModule } from './nest/streaming.module.js';
export type { StreamingModuleOptions } from './nest/interfaces/streaming-module-options.interface.js';
export {
  ResumableSse,
  StreamIdParam,
  StreamResponse,
  type ResumableSseOptions,
  type StreamResponseOptions,
} from './nest/streaming.decorators.js';

export { LastEventId } from './nest/last-event-id.js';
export { StreamGuard } from './nest/stream.guard.js';
export { AdmittedStream } from './nest/stream-admission.js';

export {
  StreamRegistry,
  type CreateStreamOptions,
  type StreamRegistryOptions,
  type StreamRegistryStats,
} from './core/stream-registry.js';
export type { AdmittedPoint, ResetReason, ResumeOutcome, ResumePoint } from './core/resume.js';
export type { CatchupTier, LocateSource, ResumeCount, StreamTimingListener } from './core/stream-metrics.js';
export { RESUME_HEADER } from './http/resume-header.js';
export { ResumableStream } from './core/stream.js';
export type { StreamOptions, StreamDurability, CatchupEvent, CatchupFunction } from './core/options.js';
export type { ProducerContext, StreamProducer } from './core/producer.js';
export type { StreamFinishedHook, StreamFinishedInfo } from './core/stream-turn.js';
export {
  isStreamEvent,
  type EventInput,
  type SseMessage,
  type StreamEvent,
  type StreamState,
} from './core/stream-event.js';
export type { ClientSink } from './core/stream-client.js';
export {
  MAX_METADATA_BYTES,
  type JsonValue,
  type PortableStreamOptions,
  type StreamDescriptor,
  type StreamMetadata,
} from './core/stream-descriptor.js';

export type { EventStore, StaleStream, StoreDeletion, StoredEvent, StoredStreamMeta } from './core/event-store.js';
export type { StorePurgeResult } from './core/store-retention.js';
export type { StreamDeletion } from './core/stream-delete.js';
export type {
  AppendOutcome,
  BusEvent,
  BusFollower,
  BusOpenOptions,
  BusStreamInfo,
  ControlMessage,
  StreamBus,
} from './core/stream-bus.js';
export { InProcessStreamBus } from './core/in-process-bus.js';
export {
  InterjectionBuffer,
  newlineCombiner,
  DEFAULT_INTERJECTION_MAX_BYTES,
  type InterjectionCombiner,
  type InterjectionMode,
  type InterjectionReceipt,
} from './core/interjections.js';
export type { InterjectOptions } from './core/stream-interject.js';

export {
  MeridianStreamError,
  StreamNotFoundError,
  StreamProducerLostError,
  ProducerUnreachableError,
  StreamAlreadyExistsError,
  InvalidEventIdError,
  InvalidStreamInputError,
  EventTooLargeError,
  StreamMetadataError,
  StreamLimitError,
  StreamProducedElsewhereError,
  StreamFullyDeliveredError,
  StreamFinishedError,
  InterjectionTooLargeError,
  RegistryClosedError,
  PublicStreamError,
  StoreUnavailableError,
} from './core/errors.js';
