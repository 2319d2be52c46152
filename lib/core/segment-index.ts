const MIN_CAPACITY = 16;
/** Shared by every index that holds nothing yet: a stream costs no arrays before its first event. */
const NO_PLACES = new Int32Array(0);
const NO_ENDS = new Float64Array(0);

/**
 * Where each held event's frame is, oldest first, in typed arrays: its segment, first byte and
 * length, and the bytes of data appended ever through it. 20 bytes an event, no object.
 */
export class SegmentIndex {
  /** Bytes of index an event costs. */
  static readonly BYTES_PER_EVENT = 3 * Int32Array.BYTES_PER_ELEMENT + Float64Array.BYTES_PER_ELEMENT;
  private places = NO_PLACES;
  private ends = NO_ENDS;
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(segment: number, start: number, length: number, end: number): void {
    if (this.tail === this.ends.length) this.makeRoom();
    const at = this.tail++;
    this.places[3 * at] = segment;
    this.places[3 * at + 1] = start;
    this.places[3 * at + 2] = length;
    this.ends[at] = end;
  }

  /** The segment of the `offset`-th event held (0: the oldest). */
  segment(offset: number): number {
    return this.places[3 * (this.head + offset)];
  }

  start(offset: number): number {
    return this.places[3 * (this.head + offset) + 1];
  }

  length(offset: number): number {
    return this.places[3 * (this.head + offset) + 2];
  }

  end(offset: number): number {
    return this.ends[this.head + offset];
  }

  /** Forgets the oldest event. */
  shift(): void {
    this.head++;
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  clear(): void {
    this.head = this.tail = 0;
  }

  /**
   * Moves what is held to the front of arrays half as large again: they shrink as well as grow, at
   * most a third of them is spare, and a copy comes at most every `size / 2` pushes.
   */
  private makeRoom(): void {
    const size = this.size;
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(1.5 * size));
    const places = new Int32Array(3 * capacity);
    places.set(this.places.subarray(3 * this.head, 3 * this.tail));
    const ends = new Float64Array(capacity);
    ends.set(this.ends.subarray(this.head, this.tail));
    this.places = places;
    this.ends = ends;
    this.head = 0;
    this.tail = size;
  }
}
