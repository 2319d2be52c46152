import { InvalidStreamInputError, StreamMetadataError } from './errors.js';
import type { StreamLogger } from './logger.js';
import type { CatchupFunction, StreamOptions } from './options.js';
import type { StreamAuthorizer } from './registry-options.js';

/** A JSON value, as metadata holds it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What a stream is about (`{ chatId, userId }`): a small JSON object given at `create()`. */
export type StreamMetadata = { readonly [key: string]: JsonValue };

/** Most bytes of a stream's metadata, as JSON (UTF-8). */
export const MAX_METADATA_BYTES = 4096;

/** Longest value of an indexed metadata field (`activeKeys`), in characters. */
const MAX_ACTIVE_VALUE_LENGTH = 256;

/**
 * The options that travel with a stream to other instances and through a restart: the
 * serialisable ones given at `create()`. Functions (`toEvent`, a `catchup` function, an
 * `authorize` function) stay on the producing instance; `catchup` and `authorize` travel as the
 * name they were registered under (`catchups`, `authorizers`).
 */
export type PortableStreamOptions = Omit<StreamOptions, 'toEvent' | 'catchup'> & {
  /** The name of a catchup registered in the registry's `catchups`. */
  readonly catchup?: string;
  /** The name of an authorizer registered in the registry's `authorizers`. */
  readonly authorize?: string;
};

/**
 * What is stored with a stream (store and bus) besides its events: its metadata, the options
 * other instances must use for it, and which metadata fields index it as active.
 */
export interface StreamDescriptor {
  /** The metadata given at `create()` (`{}` when none). */
  readonly metadata: StreamMetadata;
  /** The portable options given at `create()`. */
  readonly options: PortableStreamOptions;
  /** Metadata fields that find the running stream (`findActive()`), as `field=value`. */
  readonly active?: readonly string[];
}

/** What a stream is created with, once named functions are looked up. */
export interface DescribedStream {
  readonly descriptor: StreamDescriptor;
  /** The stream's options for this instance (a named catchup replaced by its function). */
  readonly options: StreamOptions & { readonly descriptor: StreamDescriptor };
  /** The stream's own authorize, from a function or a name. */
  readonly authorize: StreamAuthorizer | undefined;
}

/** How a registry describes its streams. */
export interface StreamDescriberOptions {
  readonly catchups?: Readonly<Record<string, CatchupFunction>>;
  readonly authorizers?: Readonly<Record<string, StreamAuthorizer>>;
  readonly activeKeys?: readonly string[];
  readonly logger: StreamLogger;
}

/**
 * Turns `create()`'s metadata and options into what travels (a {@link StreamDescriptor}), and a
 * descriptor read elsewhere back into options: named catchups and authorizers are looked up in
 * this instance's registry, so they must be registered under the same name on every instance.
 */
export class StreamDescriber {
  private readonly catchups: Readonly<Record<string, CatchupFunction>>;
  private readonly authorizers: Readonly<Record<string, StreamAuthorizer>>;
  /** The metadata fields `findActive()` can search by. */
  readonly activeKeys: readonly string[];
  private readonly logger: StreamLogger;

  constructor(options: StreamDescriberOptions) {
    this.catchups = namedFunctions('catchups', options.catchups);
    this.authorizers = namedFunctions('authorizers', options.authorizers);
    const activeKeys = options.activeKeys ?? [];
    if (!Array.isArray(activeKeys) || activeKeys.some((key) => typeof key !== 'string' || !/^\w{1,64}$/.test(key))) {
      throw new InvalidStreamInputError(
        'Option activeKeys must be a list of metadata field names (1 to 64 of A-Z a-z 0-9 _).',
      );
    }
    this.activeKeys = activeKeys;
    this.logger = options.logger;
  }

  /** @throws StreamMetadataError (400/413), InvalidStreamInputError for an unknown name. */
  describe(
    metadata: unknown,
    options: Omit<StreamOptions, 'catchup'> & { readonly catchup?: CatchupFunction | string },
    authorize: StreamAuthorizer | string | undefined,
  ): DescribedStream {
    const checked = checkMetadata(metadata);
    const { catchup, toEvent, ...rest } = options;
    const portable: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) portable[key] = value;
    let catchupFunction = catchup as CatchupFunction | undefined;
    if (typeof catchup === 'string') {
      catchupFunction = this.catchups[catchup];
      if (!catchupFunction)
        throw new InvalidStreamInputError(`Option catchup: no catchup named "${catchup}" in the registry's catchups.`);
      portable.catchup = catchup;
    }
    let authorizer = authorize as StreamAuthorizer | undefined;
    if (typeof authorize === 'string') {
      authorizer = this.authorizers[authorize];
      if (!authorizer)
        throw new InvalidStreamInputError(
          `Option authorize: no authorizer named "${authorize}" in the registry's authorizers.`,
        );
      portable.authorize = authorize;
    }
    const active = this.activeEntries(checked);
    const descriptor: StreamDescriptor = { metadata: checked, options: portable, ...(active.length ? { active } : {}) };
    // toEvent is the producer's alone: it stays here, and does not travel.
    return { descriptor, options: { ...rest, toEvent, catchup: catchupFunction, descriptor }, authorize: authorizer };
  }

  /** The options of a stream described elsewhere, as a layer over this registry's defaults. */
  optionsOf(
    streamId: string,
    descriptor: StreamDescriptor | undefined,
  ): StreamOptions & { descriptor?: StreamDescriptor } {
    if (!descriptor) return {};
    const { catchup, authorize: _authorize, ...rest } = descriptor.options;
    let catchupFunction: CatchupFunction | undefined;
    if (catchup !== undefined) {
      catchupFunction = this.catchups[catchup];
      if (!catchupFunction) {
        this.logger.warn(
          `Stream ${streamId}: its catchup "${catchup}" is not among this registry's catchups; clients catch up from the store as is.`,
        );
      }
    }
    return { ...rest, catchup: catchupFunction, descriptor };
  }

  /**
   * The authorize a stream described elsewhere was created with (by name). A name this instance
   * does not know lets nobody in: failing open would hand the stream to anyone with its id.
   */
  authorizerOf(streamId: string, descriptor: StreamDescriptor | undefined): StreamAuthorizer | undefined {
    const name = descriptor?.options.authorize;
    if (name === undefined) return undefined;
    const found = this.authorizers[name];
    if (found) return found;
    this.logger.warn(
      `Stream ${streamId}: its authorize "${name}" is not among this registry's authorizers; every client is refused.`,
    );
    return () => false;
  }

  /** The `field=value` entries a key for `findActive()` is searched by. @throws InvalidStreamInputError */
  entriesOf(key: Readonly<Record<string, string>>): string[] {
    const fields = key === null || typeof key !== 'object' ? [] : Object.keys(key);
    const indexed = fields.filter((field) => this.activeKeys.includes(field));
    if (indexed.length === 0) {
      throw new InvalidStreamInputError(
        `findActive() needs at least one of the registry's activeKeys (${this.activeKeys.join(', ') || 'none'}); add the metadata field to the activeKeys option.`,
      );
    }
    return indexed.map((field) => activeEntry(field, key[field]));
  }

  private activeEntries(metadata: StreamMetadata): string[] {
    const entries: string[] = [];
    for (const field of this.activeKeys) {
      const value = metadata[field];
      if (value === undefined) continue;
      if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ACTIVE_VALUE_LENGTH) {
        throw new StreamMetadataError(
          `Metadata field "${field}" is one of activeKeys, so it must be a string of 1 to ${MAX_ACTIVE_VALUE_LENGTH} characters.`,
          400,
        );
      }
      entries.push(activeEntry(field, value));
    }
    return entries;
  }
}

/** Whether a stream's descriptor matches every field of a `findActive()` key. */
export function matchesKey(descriptor: StreamDescriptor | undefined, key: Readonly<Record<string, string>>): boolean {
  return (
    descriptor !== undefined && Object.entries(key).every(([field, value]) => descriptor.metadata[field] === value)
  );
}

/** A descriptor read back from JSON (store or bus); undefined when missing or malformed. */
export function parseDescriptor(json: string | null | undefined): StreamDescriptor | undefined {
  if (!json) return undefined;
  try {
    const parsed = JSON.parse(json) as Partial<StreamDescriptor> | null;
    if (!isPlainObject(parsed) || !isPlainObject(parsed.metadata) || !isPlainObject(parsed.options)) return undefined;
    return parsed as StreamDescriptor;
  } catch {
    return undefined;
  }
}

function activeEntry(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ACTIVE_VALUE_LENGTH) {
    throw new InvalidStreamInputError(
      `findActive(): the value of "${field}" must be a string of 1 to ${MAX_ACTIVE_VALUE_LENGTH} characters.`,
    );
  }
  return `${field}=${value}`;
}

/** A plain JSON object of at most {@link MAX_METADATA_BYTES}, frozen; `{}` for undefined. */
function checkMetadata(metadata: unknown): StreamMetadata {
  if (metadata === undefined) return EMPTY_METADATA;
  if (!isPlainObject(metadata)) {
    throw new StreamMetadataError(
      'Option metadata must be a plain JSON object, e.g. { chatId: "c1", userId: "u1" }.',
      400,
    );
  }
  const problem = jsonProblem(metadata, 'metadata', new Set());
  if (problem) throw new StreamMetadataError(`Option ${problem}; metadata must be plain JSON.`, 400);
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > MAX_METADATA_BYTES) {
    throw new StreamMetadataError(
      `Option metadata is ${bytes} bytes as JSON, more than ${MAX_METADATA_BYTES}. Keep ids in it (chatId, userId) and the rest in your own database.`,
      413,
    );
  }
  return deepFreeze(structuredClone(metadata) as StreamMetadata);
}

/** Where a value is not JSON (a function, a Date, NaN, a cycle...), or undefined when it all is. */
function jsonProblem(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is not a finite number`;
  if (typeof value !== 'object') return `${path} is a ${typeof value}`;
  if (seen.has(value)) return `${path} refers back to itself`;
  if (!Array.isArray(value) && !isPlainObject(value)) return `${path} is not a plain object or array`;
  seen.add(value);
  for (const [key, item] of Object.entries(value)) {
    const problem = jsonProblem(item, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, seen);
    if (problem) return problem;
  }
  seen.delete(value);
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function namedFunctions<T>(
  option: string,
  given: Readonly<Record<string, T>> | undefined,
): Readonly<Record<string, T>> {
  if (given === undefined) return {};
  if (!isPlainObject(given) || Object.values(given).some((value) => typeof value !== 'function')) {
    throw new InvalidStreamInputError(`Option ${option} must be an object of named functions, e.g. { blocks: fn }.`);
  }
  return { ...given };
}

/** The metadata of a stream created without any. */
export const EMPTY_METADATA: StreamMetadata = Object.freeze({});
