import { GUARDS_METADATA, ROUTE_ARGS_METADATA, SSE_METADATA } from '@nestjs/common/constants.js';
import { MetadataScanner } from '@nestjs/core';
import { isLastEventIdFactory } from './last-event-id.js';
import { StreamGuard } from './stream.guard.js';

/**
 * The `@Sse()` routes that serve a registry's streams (they read `@LastEventId()`) without
 * `StreamGuard` on the method or its controller, as `Controller.method`. Such a route is fine for
 * streams in memory, but never asks `authorize` and cannot bring a stream back from the store or
 * follow one through the bus: read once at start-up, from the routes' metadata.
 */
export function findUnguardedStreamRoutes(controllers: readonly { readonly metatype?: unknown }[]): string[] {
  const scanner = new MetadataScanner();
  const found: string[] = [];
  for (const { metatype } of controllers) {
    if (typeof metatype !== 'function') continue;
    const prototype = metatype.prototype as Record<string, unknown>;
    const controllerGuards = guardsOf(metatype);
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name] as object;
      if (!Reflect.getMetadata(SSE_METADATA, handler)) continue;
      const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<
        string,
        { factory?: unknown }
      >;
      if (!Object.values(params).some((param) => isLastEventIdFactory(param.factory))) continue;
      const guarded = [...controllerGuards, ...guardsOf(handler)].some(
        (guard) => guard === StreamGuard || guard instanceof StreamGuard,
      );
      if (!guarded) found.push(`${metatype.name}.${name}`);
    }
  }
  return found;
}

function guardsOf(target: object): unknown[] {
  return (Reflect.getMetadata(GUARDS_METADATA, target) as unknown[] | undefined) ?? [];
}
