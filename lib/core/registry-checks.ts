import { InvalidStreamInputError } from './errors.js';
import {
  DEFAULT_FOLLOW_IDLE_MS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_STREAMS,
  STREAM_ID_PATTERN,
  type CreateStreamOptions,
  type StreamRegistryOptions,
} from './registry-options.js';
import { DEFAULT_MAX_UNSTORED_BYTES_TOTAL } from './unstored-limit.js';

/** A registry's own limits, checked, defaults filled in. */
export interface RegistryLimits {
  readonly maxStreams: number;
  readonly maxClients: number;
  readonly followIdleMs: number;
  readonly maxUnstoredBytesTotal: number;
}

/** Checks the registry-wide options `new StreamRegistry()` takes besides stream defaults. */
export function checkRegistryOptions(options: StreamRegistryOptions): RegistryLimits {
  const {
    maxStreams = DEFAULT_MAX_STREAMS,
    maxClients = DEFAULT_MAX_CLIENTS,
    followIdleMs = DEFAULT_FOLLOW_IDLE_MS,
    maxUnstoredBytesTotal = DEFAULT_MAX_UNSTORED_BYTES_TOTAL,
  } = options;
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new InvalidStreamInputError('Option authorize must be a function (request, stream) => boolean.');
  }
  assertHook('onStreamFinished', options.onStreamFinished);
  for (const [name, value] of Object.entries({ maxStreams, maxClients, followIdleMs, maxUnstoredBytesTotal })) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidStreamInputError(`Option ${name} must be a whole number >= 1, got ${String(value)}.`);
    }
  }
  return { maxStreams, maxClients, followIdleMs, maxUnstoredBytesTotal };
}

/** Checks what `create()` takes besides stream options: its id, `authorize` and `onFinished`. */
export function checkCreateOptions(options: Pick<CreateStreamOptions, 'id' | 'authorize' | 'onFinished'>): void {
  const { id, authorize, onFinished } = options;
  assertHook('onFinished', onFinished);
  if (authorize !== undefined && typeof authorize !== 'function' && typeof authorize !== 'string') {
    throw new InvalidStreamInputError(
      'Option authorize must be a function (request, stream) => boolean, or the name of one in authorizers.',
    );
  }
  if (id !== undefined && (typeof id !== 'string' || !STREAM_ID_PATTERN.test(id))) {
    throw new InvalidStreamInputError('A stream id must be 1 to 128 characters of A-Z, a-z, 0-9, "_" and "-".');
  }
}

function assertHook(name: string, hook: unknown): void {
  if (hook !== undefined && typeof hook !== 'function') {
    throw new InvalidStreamInputError(`Option ${name} must be a function ({ stream, state, error, result }) => void.`);
  }
}
