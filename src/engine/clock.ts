/*
 * The engine's sense of time. Every wait and every timestamp the engine takes goes through
 * a Clock, so a benchmark can run the engine on a simulated clock (one that does not advance
 * while the client computes) and tests never depend on the machine's speed.
 */
export type Clock = {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolve after `ms` (at once if ms <= 0); resolve early, without error, when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || signal?.aborted) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};
