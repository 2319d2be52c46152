import { ServerResponse } from 'node:http';

/**
 * Node's response behind an adapter's response: Express's is Node's `ServerResponse` itself,
 * Fastify's reply carries it as `raw`, and an HTTP/2 compatibility response is taken as it is when
 * it has `method`. Express gives each response a hidden class of its own, which makes reads of
 * what lives on Node's prototypes (`raw`, `once`, `destroy`) slow lookups: `instanceof` answers
 * without them, and this runs once per connection.
 * @internal
 */
export function nodeResponseOf<T>(response: unknown, method: 'once' | 'destroy'): T | undefined {
  if (response instanceof ServerResponse) return response as T;
  const raw = (response as { raw?: unknown } | null | undefined)?.raw ?? response;
  if (raw instanceof ServerResponse) return raw as T;
  return typeof (raw as Record<string, unknown> | null | undefined)?.[method] === 'function' ? (raw as T) : undefined;
}
