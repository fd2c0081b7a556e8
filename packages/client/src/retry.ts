import { AbortError, isRetriable } from './errors.js';

export interface RetryOptions {
  /** How many times a failed retriable request is tried again. */
  retries: number;
  /** First backoff (Kafka's retry.backoff.ms). */
  initialRetryTimeMs: number;
  /** Backoff ceiling (Kafka's retry.backoff.max.ms). */
  maxRetryTimeMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  retries: 5,
  initialRetryTimeMs: 100,
  maxRetryTimeMs: 1000,
});

/** Exponential backoff with ±20% jitter, as Kafka does, so that clients that failed together do not retry together. */
export function backoffMs(attempt: number, retry: RetryOptions, random: () => number = Math.random): number {
  const base = Math.min(retry.maxRetryTimeMs, retry.initialRetryTimeMs * 2 ** Math.max(0, attempt));
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}

/** setTimeout as a promise that an AbortSignal can cut short (rejecting with AbortError). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryLoopOptions {
  retry: RetryOptions;
  /** Absolute time (Date.now() scale) after which no new attempt starts. */
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Called with each retriable failure before backing off (e.g. to refresh metadata). */
  onRetriable?: (err: unknown, attempt: number) => void | Promise<void>;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retriable error, runs out of retries, or would
 * start after the deadline. The last error is thrown as it is.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryLoopOptions): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isRetriable(err) || n >= options.retry.retries) throw err;
      const wait = backoffMs(n, options.retry);
      if (Date.now() + wait >= options.deadline) throw err;
      await options.onRetriable?.(err, n);
      await sleep(wait, options.signal);
    }
  }
}
