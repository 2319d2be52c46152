import http from 'node:http';

/** What one benchmark client saw. */
export interface ReadResult {
  events: number;
  bytes: number;
  lastId: string;
  /** Delivery latencies (ms): receive time minus the `t` field the sample producer writes. */
  latencies: number[];
  /** Sequences that did not follow the previous one (gaps or duplicates). */
  outOfOrder: number;
}

/**
 * Reads an SSE response without keeping the events: counts them, checks that ids follow each
 * other, and optionally records latencies from the sample app's `t` field.
 */
export function readStream(url: string, options: { latencies?: boolean } = {}): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    const result: ReadResult = { events: 0, bytes: 0, lastId: '', latencies: [], outOfOrder: 0 };
    let previous = 0;
    let tail = '';
    http
      .get(url, { agent: false }, (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const now = performance.timeOrigin + performance.now();
          result.bytes += Buffer.byteLength(chunk);
          const text = tail + chunk;
          let index = 0;
          let next: number;
          while ((next = text.indexOf('\n', index)) >= 0) {
            const line = text.slice(index, next);
            if (line.startsWith('data:')) {
              result.events++;
              if (options.latencies) {
                const t = /"t":([0-9.]+)/.exec(line);
                if (t) result.latencies.push(now - Number(t[1]));
              }
            } else if (line.startsWith('id: ')) {
              result.lastId = line.slice(4);
              const sequence = Number(result.lastId.split('-')[1]);
              if (sequence !== 0 && sequence !== previous + 1) result.outOfOrder++;
              previous = sequence;
            }
            index = next + 1;
          }
          tail = text.slice(index);
        });
        response.on('end', () => resolve(result));
      })
      .on('error', reject);
  });
}

/** The p-th percentile (0..100) of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
