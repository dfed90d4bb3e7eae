// A bounded copy of a body as it streams: chunks are copied (a slice would keep its whole
// socket read buffer alive) until `max` bytes, after which the copy is dropped and only
// the overflow is remembered. What the gateway holds per copy is at most `max` bytes.

export class BodyBuffer {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Whether the body grew past max; the chunks are gone then. */
  overflowed = false;

  constructor(readonly max: number) {}

  /** Adds a chunk; false once the body is over the limit. */
  push(chunk: Buffer): boolean {
    if (this.overflowed) return false;
    this.length += chunk.length;
    if (this.length > this.max) {
      this.overflowed = true;
      this.chunks = [];
      return false;
    }
    this.chunks.push(Buffer.from(chunk));
    return true;
  }

  /** The body so far, as one buffer. */
  contents(): Buffer {
    return this.chunks.length === 1
      ? (this.chunks[0] as Buffer)
      : Buffer.concat(this.chunks, this.length);
  }
}
