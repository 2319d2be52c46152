import type { StreamBus } from './stream-bus.js';
import { matchesKey, type StreamDescriber } from './stream-descriptor.js';
import type { ResumableStream } from './stream.js';

/** What {@link ActiveStreams} needs from its registry. */
export interface ActiveStreamsOptions {
  readonly describer: StreamDescriber;
  readonly bus: StreamBus | undefined;
  /** The registry's `locate()`: memory, then the bus, then the store. */
  locate(id: string): Promise<ResumableStream | undefined>;
}

/**
 * Finds the running stream whose metadata matches a key (`{ chatId }`): what a "resume my chat"
 * endpoint asks. Streams produced here are indexed in memory; with a bus, the bus indexes every
 * instance's streams by their `activeKeys` fields while they run. Without a bus only this
 * process is searched: a store alone cannot serve a stream running in another process (it would
 * be brought back as interrupted), so there is nothing to find there.
 */
export class ActiveStreams {
  /** `field=value` -> the stream produced here last opened with it, while it runs. */
  private readonly here = new Map<string, ResumableStream>();

  constructor(private readonly options: ActiveStreamsOptions) {}

  /** Indexes a stream created here by its active entries, until it finishes. */
  track(stream: ResumableStream): void {
    const entries = stream.options.descriptor?.active ?? [];
    if (entries.length === 0) return;
    for (const entry of entries) this.here.set(entry, stream);
    void stream.whenFinished().then(() => {
      for (const entry of entries) if (this.here.get(entry) === stream) this.here.delete(entry);
    });
  }

  /**
   * The running stream whose metadata has every field of `key`, here or on another instance
   * (followed through the bus), or undefined. When several match, the one opened last.
   * @throws InvalidStreamInputError when no field of `key` is among the registry's `activeKeys`.
   */
  async find(key: Readonly<Record<string, string>>): Promise<ResumableStream | undefined> {
    const entries = this.options.describer.entriesOf(key);
    for (const entry of entries) {
      const stream = this.here.get(entry);
      if (stream && isActive(stream, key)) return stream;
    }
    const { bus } = this.options;
    if (!bus?.findActive) return undefined;
    // The index may name a stream that has just ended or lost its producer: the stream decides.
    const id = await bus.findActive(entries[0]);
    const stream = id === undefined ? undefined : await this.options.locate(id);
    return stream && isActive(stream, key) ? stream : undefined;
  }
}

function isActive(stream: ResumableStream, key: Readonly<Record<string, string>>): boolean {
  return !stream.isFinished && matchesKey(stream.options.descriptor, key);
}
