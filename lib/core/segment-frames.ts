/** The smallest segment; a stream holding little stays small. */
const MIN_SEGMENT_BYTES = 512;
/** The largest segment that holds several frames; a bigger frame gets a segment of its own. */
export const MAX_SEGMENT_BYTES = 32 * 1024;
const CR_LF_BYTES = 2;

/** Bytes of `<size in hex>CRLF` before a frame of `length` bytes in HTTP/1.1 chunked encoding. */
export function chunkHeadBytes(length: number): number {
  return length.toString(16).length + CR_LF_BYTES;
}

/**
 * The frames of one stream's buffered events, each written once, already in HTTP/1.1 chunked
 * encoding (`<size>CRLF<frame>CRLF`), one after another into segments of a few KiB to 32 KiB.
 * Segments are standalone allocations (never a slice of Node's shared 8 KiB pool, which one small
 * frame would keep alive whole) and leave memory a segment at a time, oldest first. Frames and
 * chunks handed out are views into them: nothing is copied to write them.
 */
export class SegmentFrames {
  private segments: Buffer[] = [];
  /** Number of `segments[0]`; numbers only grow, so a frame's number stays valid. */
  private first = 0;
  /** Bytes used in the newest segment. */
  private used = 0;
  /** Where the last appended frame went: its segment and its first byte. */
  lastSegment = 0;
  lastStart = 0;

  /** Bytes allocated for segments held. */
  get allocatedBytes(): number {
    let bytes = 0;
    for (const segment of this.segments) bytes += segment.length;
    return bytes;
  }

  /**
   * Writes `text` (its UTF-8 size is `length`) as the next chunked frame; `lastSegment` and
   * `lastStart` then say where its frame begins. `heldBytes`, what the stream holds, sizes a
   * new segment, so that a stream holding little never holds a large segment.
   */
  append(text: string, length: number, heldBytes: number): void {
    const head = `${length.toString(16)}\r\n`;
    const total = head.length + length + CR_LF_BYTES;
    let segment = this.segments[this.segments.length - 1];
    if (!segment || segment.length - this.used < total) {
      segment = Buffer.allocUnsafeSlow(Math.max(total, segmentSize(heldBytes)));
      this.segments.push(segment);
      this.used = 0;
    }
    const at = this.used;
    segment.write(head, at, 'latin1');
    segment.write(text, at + head.length, 'utf8');
    segment.write('\r\n', at + head.length + length, 'latin1');
    this.used = at + total;
    this.lastSegment = this.first + this.segments.length - 1;
    this.lastStart = at + head.length;
  }

  /** The frame of `length` bytes at `start` in segment `number`, a view into the segment. */
  frame(number: number, start: number, length: number): Buffer {
    return this.segments[number - this.first].subarray(start, start + length);
  }

  /** The same frame with its chunk head and tail, a view into the segment. */
  chunk(number: number, start: number, length: number): Buffer {
    const head = chunkHeadBytes(length);
    return this.segments[number - this.first].subarray(start - head, start + length + CR_LF_BYTES);
  }

  /** Lets go of every segment numbered below `number` (their frames are no longer held). */
  releaseBefore(number: number): void {
    const count = Math.min(number - this.first, this.segments.length);
    if (count <= 0) return;
    this.segments.splice(0, count);
    this.first += count;
    if (this.segments.length === 0) this.used = 0;
  }

  /** Lets go of every segment. */
  clear(): void {
    this.first += this.segments.length;
    this.segments = [];
    this.used = 0;
  }
}

/** Twice what the stream holds, as a power of two between the smallest and largest segment. */
function segmentSize(heldBytes: number): number {
  let size = MIN_SEGMENT_BYTES;
  while (size < MAX_SEGMENT_BYTES && size < 2 * heldBytes) size *= 2;
  return size;
}
