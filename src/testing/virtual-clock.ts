/**
 * A {@link Clock} that only moves when told to, for tests of code that
 * waits (backoffs, timeouts, checkpoint intervals) without sleeping.
 *
 * @module
 */
import type { Clock } from '../time/clock.js';

/** A clock whose time moves only through {@link VirtualClock.advance}. */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, running every timer that falls due, in
   * order of due time (then of setting), at its due time; between timers,
   * and at the end, pending promise callbacks run (one macrotask turn), so
   * async code woken by a timer gets to its next wait.
   */
  advance(ms: number): Promise<void>;
  /** Lets pending promise callbacks run without moving time. */
  settle(): Promise<void>;
  /** Timers set and not yet run or cancelled. */
  readonly pending: number;
  /** Due times of the pending timers, soonest first. */
  dueTimes(): number[];
}

/**
 * A virtual clock starting at `start` (ms since the epoch).
 *
 * @example
 * ```ts
 * import { virtualClock } from 'tidemark/testing';
 * const clock = virtualClock(1_000);
 * let fired = 0;
 * clock.timeout(() => fired++, 500);
 * await clock.advance(499); // fired === 0
 * await clock.advance(1);   // fired === 1, clock.now() === 1_500
 * ```
 */
export function virtualClock(start = 0): VirtualClock {
  let now = start;
  let order = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const next = () => {
    let best: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of timers) if (!best || entry[1].at < best[1].at) best = entry;
    return best;
  };
  const settle = async () => {
    // A macrotask turn: every promise callback queued so far (and the ones
    // they queue) runs before it ends. setImmediate where there is one.
    for (let i = 0; i < 3; i++)
      await new Promise<void>((resolve) => {
        const immediate = (globalThis as { setImmediate?: (fn: () => void) => void }).setImmediate;
        if (immediate) immediate(resolve);
        else {
          const channel = new MessageChannel();
          channel.port1.onmessage = () => {
            channel.port1.close();
            resolve();
          };
          channel.port2.postMessage(null);
        }
      });
  };
  return {
    now: () => now,
    timeout(fn, ms) {
      const id = order++;
      timers.set(id, { at: now + Math.max(0, Number.isFinite(ms) ? ms : 0), fn });
      return () => {
        timers.delete(id);
      };
    },
    async advance(ms) {
      const target = now + ms;
      await settle();
      for (let due = next(); due && due[1].at <= target; due = next()) {
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
        await settle();
      }
      now = target;
      await settle();
    },
    settle,
    get pending() {
      return timers.size;
    },
    dueTimes: () => [...timers.values()].map((t) => t.at).sort((a, b) => a - b),
  };
}
