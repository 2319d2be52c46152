/**
 * One client's event-stream response, whatever the HTTP platform: all the engine's transport
 * writes go through it (as better-sse's `Connection`). `NodeHttpConnection` is the one for Node's
 * `ServerResponse`, which Express and Fastify both hand over.
 */
export abstract class SseConnection {
  /** Sends the head (200 and the SSE headers) and a lone line break, so the client knows it is connected. */
  abstract open(): void;
  /** Writes one whole SSE frame; frames keep their order. */
  abstract write(frame: Buffer): void;
  /** True while the client has more queued than it should be sent. */
  abstract isBackedUp(): boolean;
  /** Calls `listener` once the client can take more; returns a function that cancels. */
  abstract onceWritable(listener: () => void): () => void;
  /** Sends what is held and ends the response. */
  abstract end(): void;
  /** Drops the connection now (the client was cut; queued data would keep it open). */
  abstract abort(): void;
  /** Calls `listener` once, when the connection has closed (ended, aborted or lost). */
  abstract onClose(listener: () => void): void;
}
