/** Metadata key: which route parameter holds the stream id (see `@StreamIdParam()`). */
export const STREAM_ID_PARAM_METADATA = 'meridian-stream:stream-id-param';

/** The route parameter the guard reads when none is set. */
export const DEFAULT_STREAM_ID_PARAM = 'id';

/** The request header EventSource sends on reconnects. */
export const LAST_EVENT_ID_HEADER = 'last-event-id';

/** The query parameter read when the header is absent (for a client that reconnects by hand). */
export const LAST_EVENT_ID_QUERY = 'lastEventId';

export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** Metadata key: the wire format of a `@StreamResponse()` route. */
export const STREAM_RESPONSE_METADATA = 'meridian-stream:stream-response';
