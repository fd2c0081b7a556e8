import type { Logger } from 'pino';
import type { LogConfig } from './config.js';
import { KafkaStorageError } from './errors.js';

export type LogState = 'online' | 'offline' | 'closed';

/**
 * What every part of one partition log shares: its directory, settings, logger and clock, and its
 * state. A log goes offline once, on the first I/O failure or corruption it cannot repair; from then
 * on every operation throws the error that took it offline.
 */
export class LogContext {
  private current: LogState = 'online';
  private offlineError: KafkaStorageError | undefined;
  /** What the parts drop when the log goes offline: the tail, queued appends, the flush timer. */
  private readonly offlineHooks: Array<(error: KafkaStorageError) => void> = [];

  constructor(
    readonly dir: string,
    private settings: LogConfig,
    readonly logger: Logger,
    /** ms since the epoch: rolls, retention, flush.ms and LogAppendTime read it, never Date.now. */
    readonly clock: () => number,
  ) {}

  /** Read at each use, never kept: reconfigure() changes it while the log is open. */
  get config(): LogConfig {
    return this.settings;
  }

  /** A topic's configs changed at run time (IncrementalAlterConfigs); `config` is resolved already. */
  reconfigure(config: LogConfig): void {
    this.settings = config;
  }

  get state(): LogState {
    return this.current;
  }

  get online(): boolean {
    return this.current === 'online';
  }

  /** Closing is final: close() marks the log before it waits for anything. */
  markClosed(): void {
    this.current = 'closed';
  }

  onOffline(hook: (error: KafkaStorageError) => void): void {
    this.offlineHooks.push(hook);
  }

  ensureOnline(): void {
    if (this.current === 'offline') throw this.offlineError!;
    if (this.current === 'closed') throw new KafkaStorageError(`log ${this.dir} is closed`);
  }

  /** Takes the partition offline (once), logs why and where, and returns the error to throw. */
  goOffline(cause: unknown, file: string | undefined, position: number | undefined): KafkaStorageError {
    if (this.current === 'offline') return this.offlineError!;
    if (cause instanceof KafkaStorageError) return cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const at = position === undefined ? '' : ` at byte ${position}`;
    const error = new KafkaStorageError(
      `partition ${this.dir} is offline: ${file ?? ''}${at}: ${reason}`,
      file,
      position,
      { cause },
    );
    if (this.current === 'online') {
      this.current = 'offline';
      this.offlineError = error;
      this.logger.error({ file, position, reason }, 'partition log is offline');
      for (const hook of this.offlineHooks) hook(error);
    }
    return error;
  }
}

export const noop = (): void => {};
