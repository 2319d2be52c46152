/**
 * `nestjs-meridian-stream`: resumable Server-Sent Events for NestJS. The stream engine
 * (`StreamRegistry`, `ResumableStream`), the Nest module (`StreamingModule`, `@ResumableSse()`,
 * `@LastEventId()`, `StreamGuard`), the errors, and the contracts of the durable store
 * (`EventStore`) and of the bus between instances (`StreamBus`).
 *
 * @module nestjs-meridian-stream
 */
export * from './core/errors.js';
export { formatEventId, parseEventId, MAX_EVENT_ID_LENGTH, type EventPosition } from './core/event-id.js';
export type { StreamLogger } from './core/logger.js';
export {
  restoreEvent,
  type EventStore,
  type PersistFunction,
  type StoredEvent,
  type StoredStreamMeta,
} from './core/event-store.js';
export type { PersistResult } from './core/stream-persistence.js';
export {
  DEFAULT_EVENT_TYPES,
  DEFAULT_STREAM_OPTIONS,
  type CatchupEvent,
  type CatchupFunction,
  type CatchupRequest,
  type ResolvedStreamOptions,
  type StreamEventTypes,
  type StreamOptions,
} from './core/options.js';
export type { ProducerContext, StreamProducer, WorkFunction } from './core/producer.js';
export type { ClientEndReason, ClientSink, HistoryPage } from './core/stream-client.js';
export { StreamClient } from './core/stream-client.js';
export {
  isStreamEvent,
  type EventInput,
  type HeartbeatMessage,
  type PositionMessage,
  type ResetMessage,
  type SseMessage,
  type StreamEvent,
  type StreamState,
} from './core/stream-event.js';
export { ResumableStream, type RestoredStreamState } from './core/stream.js';
export type { ResetReason, ResumePoint } from './core/resume.js';
export type { ObserveOptions } from './core/observe-stream.js';
export {
  StreamRegistry,
  DEFAULT_MAX_STREAMS,
  type CreateStreamOptions,
  type StreamRegistryOptions,
  type StreamRegistryStats,
  type StreamAuthorizer,
  DEFAULT_MAX_CLIENTS,
} from './core/stream-registry.js';
export { StreamMetrics, RATE_WINDOW_SECONDS, type CatchupTier, type LocateSource } from './core/stream-metrics.js';
export { StreamingModule } from './nest/streaming.module.js';
export { STREAMING_MODULE_OPTIONS } from './nest/streaming.module-definition.js';
export type { StreamingModuleOptions } from './nest/interfaces/streaming-module-options.interface.js';
export { StreamGuard, StreamFullyDeliveredException } from './nest/stream.guard.js';
export { StreamErrorFilter, RETRY_AFTER_SECONDS } from './nest/stream-error.filter.js';
export { LastEventId, readLastEventId } from './nest/last-event-id.js';
export { ResumableSse, StreamIdParam, type ResumableSseOptions } from './nest/streaming.decorators.js';
export { SseConnectionTracker } from './nest/sse-connection-tracker.js';
export { LAST_EVENT_ID_HEADER, LAST_EVENT_ID_QUERY } from './nest/streaming.constants.js';
export { runWithFlowControl, currentFlowControl, type FlowControl, type FrameWriter } from './core/flow-control.js';
export { DirectSseInterceptor } from './nest/direct-sse.interceptor.js';
export {
  StreamFlowInterceptor,
  responseFlowControl,
  directResponseFlowControl,
  DIRECT_HIGH_WATER_BYTES,
} from './nest/stream-flow.interceptor.js';
export { formatSseMessage } from './core/sse-frame.js';
export type { BusEvent, BusFollower, BusStreamInfo, StreamBus } from './core/stream-bus.js';
export { InProcessStreamBus } from './core/in-process-bus.js';
export type { FollowedStreamState } from './core/stream.js';
