/*
 * The engine's policy for HTTP calls that fail on the way (5xx, 429, dropped connections,
 * timeouts): bounded attempts with exponential backoff and jitter, on the engine's clock,
 * stopping at once when the run stops. The wire layer only says whether a failure is
 * transient (SalesforceApiError.transient); this decides what to do about it.
 */
import { toApiError, type SalesforceApiError } from '../core/errors.js';
import type { Clock } from './clock.js';

export type HttpRetryOptions = {
  clock: Clock;
  /** Attempts in all, the first included (default 6). */
  attempts?: number;
  /** First wait and the cap on any wait, ms (default 500 and 20,000). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Told of each failed attempt that will be retried. */
  onRetry?: (what: string, err: SalesforceApiError, attempt: number) => void;
  /** Told of throttling (429, concurrency limits). */
  onThrottle?: () => void;
  random?: () => number;
};

export type Retrying = <T>(fn: () => Promise<T>, what: string, signal?: AbortSignal) => Promise<T>;

export function httpRetry(o: HttpRetryOptions): Retrying {
  const attempts = Math.max(1, o.attempts ?? 6);
  const min = o.minDelayMs ?? 500;
  const max = o.maxDelayMs ?? 20_000;
  const random = o.random ?? Math.random;
  return async <T>(fn: () => Promise<T>, what: string, signal?: AbortSignal): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = toApiError(err);
        if (e.status === 429 || (e.errorCode === 'REQUEST_LIMIT_EXCEEDED' && !e.quota)) o.onThrottle?.();
        if (!e.transient || attempt >= attempts || signal?.aborted) throw e;
        o.onRetry?.(what, e, attempt);
        const wait = Math.min(max, min * 2 ** (attempt - 1)) * (0.75 + random() * 0.5);
        await o.clock.sleep(wait, signal);
        if (signal?.aborted) throw e;
      }
    }
  };
}
