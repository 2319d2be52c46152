/** What the load generator needs from an HTTP/1.1 response head. */
export interface ResponseHead {
  status: number;
  chunked: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Collects bytes until the response head is complete. Returns the head and whatever body bytes
 * came with it, or undefined while the head is still incomplete.
 */
export class ResponseHeadReader {
  private parts: Buffer[] = [];

  feed(chunk: Buffer): { head: ResponseHead; rest: Buffer } | undefined {
    this.parts.push(chunk);
    const bytes = this.parts.length === 1 ? chunk : Buffer.concat(this.parts);
    const end = bytes.indexOf(HEAD_END);
    if (end === -1) {
      this.parts = [bytes];
      return undefined;
    }
    this.parts = [];
    const lines = bytes.toString('latin1', 0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
    const chunked = lines.some((line) => /^transfer-encoding:.*\bchunked\b/i.test(line));
    return { head: { status, chunked }, rest: bytes.subarray(end + HEAD_END.length) };
  }
}

/**
 * Incremental decoder of a chunked transfer-encoded body: hands each piece of payload to `out`
 * as it arrives, whatever the TCP chunking. Trailers after the last chunk are ignored.
 */
export class ChunkedDecoder {
  /** True once the zero-size chunk arrived: the response is complete. */
  ended = false;
  /** Payload bytes still to come in the current chunk. */
  private remaining = 0;
  /** Bytes of the CRLF after a chunk's payload still to skip. */
  private skip = 0;
  /** A chunk-size line split across TCP reads. */
  private sizeLine = '';

  feed(bytes: Buffer, out: (payload: Buffer) => void): void {
    let i = 0;
    while (i < bytes.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, bytes.length - i);
        out(bytes.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.skip = 2;
      } else if (this.skip > 0) {
        i++;
        this.skip--;
      } else {
        const lf = bytes.indexOf(10, i);
        if (lf === -1) {
          this.sizeLine += bytes.toString('latin1', i);
          return;
        }
        // parseInt stops at a chunk extension (;...) or the CR.
        const size = parseInt(this.sizeLine + bytes.toString('latin1', i, lf), 16);
        this.sizeLine = '';
        i = lf + 1;
        if (Number.isNaN(size)) throw new Error('malformed chunk size');
        if (size === 0) this.ended = true;
        else this.remaining = size;
      }
    }
  }
}
