import { BufferExhaustedError, ClosedError } from './errors.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Bytes of records the producer holds, bounded by bufferMemory. A sender that does not fit waits, in
 * arrival order, until delivered batches free enough or maxBlockMs passes (then BufferExhaustedError):
 * backpressure instead of unbounded growth.
 */
export class BufferMemory {
  used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacity: number) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes the bytes now if they fit and nobody is queued before us. */
  tryReserve(bytes: number): boolean {
    if (this.waiters.length > 0 || (this.used + bytes > this.capacity && this.used > 0)) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Waits for the bytes. A request larger than the whole capacity is let through once nothing else is
   * held, so a single big record cannot deadlock the producer.
   */
  reserve(bytes: number, maxBlockMs: number, onWait?: () => void): Promise<void> {
    if (this.tryReserve(bytes)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(
            new BufferExhaustedError(
              `no buffer memory for ${bytes} bytes within maxBlockMs ` +
                `${maxBlockMs} (bufferMemory ${this.capacity}, in use ${this.used})`,
            ),
          );
          this.grant();
        }, maxBlockMs),
      };
      this.waiters.push(waiter);
      onWait?.();
    });
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.waiters.length > 0) this.grant();
  }

  private grant(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0] as Waiter;
      if (this.used + head.bytes > this.capacity && this.used > 0) return;
      this.waiters.shift();
      clearTimeout(head.timer);
      this.used += head.bytes;
      head.resolve();
    }
  }

  /** Fails everyone waiting (the producer is closing). */
  close(): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new ClosedError('producer'));
    }
  }
}
