/**
 * How many early writebacks (LogConfig.writebackIntervalBytes) may be queued or running at once,
 * shared by the logs of a broker. A running one holds a libuv thread in fdatasync, and appends and
 * reads need those threads too (four unless UV_THREADPOOL_SIZE says otherwise). A log that finds no
 * slot free skips its writeback: the bytes wait for its next one, or for the kernel.
 */
export class WritebackSlots {
  private busy = 0;

  constructor(readonly max: number) {}

  tryAcquire(): boolean {
    if (this.busy >= this.max) return false;
    this.busy++;
    return true;
  }

  release(): void {
    this.busy--;
  }
}

/** A broker's share: two of the thread pool's four threads at most, the others left to appends and reads. */
export const BROKER_WRITEBACK_SLOTS = 2;
