/**
 * Processing time, injected: every host (the page runtime, the worker, the
 * uploader, the Runner, the edge) takes a {@link Clock} with
 * {@link systemClock} as its default, so tests run in virtual time
 * (`virtualClock()` from `tidemark/testing`) and never sleep. Modelled on
 * TanStack query-core's `timeoutManager`.
 *
 * @module
 */

/**
 * The time a host reads and the one-shot timers it sets.
 *
 * @example
 * ```ts
 * import type { Clock } from 'tidemark';
 * const frozen: Clock = { now: () => 0, timeout: () => () => undefined };
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()` answers. */
  now(): number;
  /** Calls `fn` once, `ms` from now; calling the answer cancels it (a no-op once it ran). */
  timeout(fn: () => void, ms: number): () => void;
}

/**
 * The platform's clock: `Date.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * import { systemClock } from 'tidemark';
 * const cancel = systemClock.timeout(() => console.log('a second later'), 1_000);
 * cancel();
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  timeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};

/**
 * Resolves `ms` from now on `clock`, or as soon as `signal` aborts (a wake-up,
 * not an error: it resolves either way).
 *
 * @example
 * ```ts
 * import { sleep, systemClock } from 'tidemark';
 * await sleep(systemClock, 10);
 * ```
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const cancel = clock.timeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
