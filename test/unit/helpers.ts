import type { Observable } from 'rxjs';
import type { ClientEndReason, ClientSink } from '../../lib/core/stream-client.js';
import { isStreamEvent, type SseMessage, type StreamEvent } from '../../lib/core/stream-event.js';

/** A tiny seeded PRNG (mulberry32): same seed, same sequence of numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Subscribes and records every message and whether/how it ended. */
export function record(observable: Observable<SseMessage>) {
  const result = {
    messages: [] as SseMessage[],
    completed: false,
    error: undefined as unknown,
    get events(): StreamEvent[] {
      return result.messages.filter(isStreamEvent);
    },
    get sequences(): number[] {
      return result.events.map((event) => event.sequence);
    },
  };
  const subscription = observable.subscribe({
    next: (message) => result.messages.push(message),
    error: (error) => (result.error = error),
    complete: () => (result.completed = true),
  });
  return Object.assign(result, { subscription });
}

/** A sink for `attach()` whose write result is chosen by `accept` (default: always accept). */
export function recordingSink(accept: (event: StreamEvent) => boolean = () => true) {
  const sink = {
    events: [] as StreamEvent[],
    ends: [] as ClientEndReason[],
    write(event: StreamEvent): boolean {
      sink.events.push(event);
      return accept(event);
    },
    end(reason: ClientEndReason): void {
      sink.ends.push(reason);
    },
  };
  return sink satisfies ClientSink;
}

/** 1..n */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
