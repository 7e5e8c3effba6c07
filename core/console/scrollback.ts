/**
 * The last N bytes of a console, as a ring of chunks. `end` is the absolute
 * byte offset of the newest byte + 1, so a viewer can splice the scrollback
 * and the live stream without gaps or repeats.
 */
export class Scrollback {
  private chunks: Buffer[] = [];
  private size = 0;
  private endOffset = 0;

  constructor(private readonly capacity: number) {}

  get end(): number {
    return this.endOffset;
  }

  push(chunk: Buffer): void {
    this.endOffset += chunk.length;
    if (this.capacity <= 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.capacity && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.capacity;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  snapshot(): { data: Buffer; end: number } {
    return { data: Buffer.concat(this.chunks, this.size), end: this.endOffset };
  }
}
