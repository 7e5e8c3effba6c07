/**
 * The last N bytes of a console, in one fixed ring buffer. `end` is the
 * absolute byte offset of the newest byte + 1, so a viewer can splice the
 * scrollback and the live stream without gaps or repeats. One buffer, not a
 * list of chunks: a guest echoing a paste byte by byte produces hundreds of
 * thousands of tiny chunks, whose Buffer objects alone overran the
 * supervisor worker's 32 MiB heap.
 */
export class Scrollback {
  private readonly ring: Buffer;
  private start = 0;
  private size = 0;
  private endOffset = 0;

  constructor(capacity: number) {
    this.ring = Buffer.alloc(Math.max(0, capacity));
  }

  get end(): number {
    return this.endOffset;
  }

  push(chunk: Buffer): void {
    this.endOffset += chunk.length;
    const cap = this.ring.length;
    if (cap === 0 || chunk.length === 0) return;
    const data = chunk.length > cap ? chunk.subarray(chunk.length - cap) : chunk;
    const at = (this.start + this.size) % cap;
    const first = Math.min(data.length, cap - at);
    data.copy(this.ring, at, 0, first);
    if (first < data.length) data.copy(this.ring, 0, first);
    this.size += data.length;
    if (this.size > cap) {
      this.start = (this.start + this.size - cap) % cap;
      this.size = cap;
    }
  }

  snapshot(): { data: Buffer; end: number } {
    const cap = this.ring.length;
    const tail = this.start + this.size - cap; // bytes wrapped to the front
    const data = tail <= 0 ? Buffer.from(this.ring.subarray(this.start, this.start + this.size)) : Buffer.concat([this.ring.subarray(this.start), this.ring.subarray(0, tail)], this.size);
    return { data, end: this.endOffset };
  }
}
