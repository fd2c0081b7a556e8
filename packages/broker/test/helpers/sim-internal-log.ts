import { ErrorCodes, SamsaError } from '@samsa/protocol';

/**
 * One partition of an internal topic (`__consumer_offsets`, `__transaction_state`) in memory, for the
 * coordinators' seeded simulations: offsets count batches, every record goes through the real codec on
 * its way in (`roundTrip`), the high watermark moves only when the simulation says so (`advance`), and
 * a killed log refuses everything as a deposed leader's would.
 */
export class SimInternalLog<R> {
  private waiters: { offset: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private dead = false;
  /** The next append fails as one without enough in-sync replicas would. */
  failNextAppend = false;

  constructor(
    readonly batches: R[][],
    public hw: number,
    private readonly roundTrip: (record: R) => R,
  ) {}

  append(records: readonly R[]): Promise<number> {
    if (this.dead) return Promise.reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER));
    if (this.failNextAppend) {
      this.failNextAppend = false;
      return Promise.reject(new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS));
    }
    this.batches.push(records.map(this.roundTrip));
    return Promise.resolve(this.batches.length);
  }

  waitCommitted(offset: number): Promise<void> {
    if (this.dead) return Promise.reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER));
    if (this.hw >= offset) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ offset, resolve, reject }));
  }

  endOffset(): number {
    return this.batches.length;
  }

  async *read(): AsyncIterable<readonly R[]> {
    for (const batch of this.batches) yield batch;
  }

  /** Everything appended so far is committed: waiters for it resolve. */
  advance(): void {
    this.hw = this.batches.length;
    const ready = this.waiters.filter((w) => w.offset <= this.hw);
    this.waiters = this.waiters.filter((w) => w.offset > this.hw);
    for (const w of ready) w.resolve();
  }

  /** The leader is deposed: waiters and later calls fail with NotLeaderOrFollower. */
  kill(): void {
    this.dead = true;
    for (const w of this.waiters) w.reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER));
    this.waiters = [];
  }
}
