export * from './core/errors.js';
export { formatEventId, parseEventId, MAX_EVENT_ID_LENGTH, type EventPosition } from './core/event-id.js';
export type { StreamLogger } from './core/logger.js';
export {
  DEFAULT_EVENT_TYPES,
  DEFAULT_STREAM_OPTIONS,
  type StreamEventTypes,
  type StreamOptions,
  type ResolvedStreamOptions,
} from './core/options.js';
export type { ProducerContext, StreamProducer, WorkFunction } from './core/producer.js';
export type { ClientEndReason, ClientSink } from './core/stream-client.js';
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
export { ResumableStream, type ObserveOptions, type ResetReason } from './core/stream.js';
export {
  StreamRegistry,
  DEFAULT_MAX_STREAMS,
  type CreateStreamOptions,
  type StreamRegistryOptions,
  type StreamRegistryStats,
} from './core/stream-registry.js';
