/**
 * Waiting on conditions, never on fixed sleeps: every wait here polls or listens for a condition and
 * fails with a message that names what it was waiting for.
 */
import type { EventEmitter } from 'node:events';

export interface WaitOptions {
  /** Give up after this long; the error names `description`. */
  timeoutMs?: number;
  /** Pause between two polls of the condition. */
  intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  description?: string;
}

/**
 * Polls `probe` until it returns something other than `undefined`, `null` or `false`, and returns that.
 * A probe that throws counts as "not yet" (the last error is reported on timeout), except for
 * `StopWaiting`, which ends the wait at once: use it when the condition can no longer become true.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, description = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const suffix = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${suffix}`);
    }
    await pause(intervalMs);
  }
}

/** Thrown by a `waitFor` probe to give up at once (e.g. the process being waited on has exited). */
export class StopWaiting extends Error {}

/** Rejects with a named timeout if `promise` does not settle within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the arguments of the next `event` on `emitter`, or rejects after `timeoutMs`. */
export function nextEvent(emitter: EventEmitter, event: string, timeoutMs = 10_000): Promise<unknown[]> {
  let listener: ((...args: unknown[]) => void) | undefined;
  const fired = new Promise<unknown[]>((resolve) => {
    listener = (...args: unknown[]) => resolve(args);
    emitter.once(event, listener);
  });
  return withTimeout(fired, timeoutMs, `event '${event}'`).finally(() => {
    if (listener) emitter.removeListener(event, listener);
  });
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A pause between polls. Only the helpers above use it; tests wait on conditions. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
