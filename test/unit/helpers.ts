import { afterEach } from '@jest/globals';
import type { Observable } from 'rxjs';
import { StreamRegistry, type StreamRegistryOptions } from '../../lib/core/stream-registry.js';
import type { StreamFinishedInfo } from '../../lib/core/stream-turn.js';
import type { ClientEndReason, ClientSink } from '../../lib/core/stream-client.js';
import { isStreamEvent, type SseMessage, type StreamEvent } from '../../lib/core/stream-event.js';

export { mulberry32 } from '../support/prng.js';

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

/**
 * Registers an afterEach that shuts down every registry made by the returned `instance()`: a
 * registry (no heartbeats) whose module-wide finish hook records every call.
 */
export function finishHookedRegistries() {
  let registries: StreamRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
    registries = [];
  });
  return function instance(options: StreamRegistryOptions = {}) {
    const calls: StreamFinishedInfo[] = [];
    const registry = new StreamRegistry({
      heartbeatMs: 0,
      onStreamFinished: (info) => void calls.push(info),
      ...options,
    });
    registries.push(registry);
    return { registry, calls };
  };
}
