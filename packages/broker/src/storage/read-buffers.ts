/**
 * Reusable buffers for log reads whose bytes are copied out soon after (a consumer Fetch: its
 * response serializer copies the records into the gRPC message). A fresh 1 MiB buffer per read
 * costs page faults and, more, garbage collection: V8 counts array buffer bytes against its
 * heap limits, so at 100+ MB/s of fetches a broker with a small heap ran a full mark-compact every
 * few dozen milliseconds.
 *
 * The rule that makes reuse safe: whoever `release`s a buffer must hold the only remaining reference
 * to its bytes (every view of it). A buffer never released is simply garbage collected, so a read
 * whose result is dropped (an abandoned long poll) costs nothing but the reuse.
 */
export class ReadBufferPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  /** The buffers this pool handed out and has not got back: guards against a double release. */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  /**
   * @param maxPooledBytes bound on the memory kept while idle
   * @param maxBufferBytes reads bigger than this get an ordinary buffer of their own
   */
  constructor(
    readonly maxPooledBytes = 16 * 1024 * 1024,
    readonly maxBufferBytes = 4 * 1024 * 1024,
  ) {}

  /** A buffer of at least `size` bytes (contents undefined). */
  acquire(size: number): Buffer {
    if (size > this.maxBufferBytes) return Buffer.allocUnsafeSlow(size);
    for (let i = this.free.length - 1; i >= 0; i--) {
      const buf = this.free[i]!;
      if (buf.length < size) continue;
      this.free.splice(i, 1);
      this.freeBytes -= buf.length;
      this.lent.add(buf.buffer);
      return buf;
    }
    // 64 KiB steps, so reads of slightly different sizes share buffers.
    const buf = Buffer.allocUnsafeSlow(Math.min(this.maxBufferBytes, Math.ceil(size / 65_536) * 65_536));
    this.lent.add(buf.buffer);
    return buf;
  }

  /**
   * Takes back the buffer under `view` (any view of a buffer from acquire; others are ignored). The
   * caller guarantees nothing reads or writes any view of it any more.
   */
  release(view: Uint8Array): void {
    const arrayBuffer = view.buffer;
    if (!this.lent.delete(arrayBuffer)) return;
    const buf = Buffer.from(arrayBuffer, 0, arrayBuffer.byteLength);
    if (this.freeBytes + buf.length > this.maxPooledBytes) return;
    this.free.push(buf);
    this.freeBytes += buf.length;
  }
}
