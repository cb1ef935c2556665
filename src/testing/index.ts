/**
 * Helpers for testing pipelines: a synchronous runner, a plain batch
 * reference for windowed aggregations, a bounded-disorder shuffle and a
 * "latest pane" view. Exported as `tidemark/testing`.
 *
 * @module tidemark/testing
 */
import { from, type OperatorFunction } from 'rxjs';
import type { Aggregate } from '../aggregates/aggregate.js';
import type { WindowAssigner } from '../windows/assigners.js';
import { compareWindows, windowId } from '../windows/identity.js';
import { LatestPanes } from '../windows/latest-panes.js';
import type { WindowKey, WindowResult } from '../windows/window-result.js';

export type { VirtualClock } from './virtual-clock.js';
export { virtualClock } from './virtual-clock.js';

/**
 * Runs `operator` over `events` synchronously and returns everything it
 * emitted; throws if the stream errors.
 *
 * @example
 * ```ts
 * import { eventTime, windowBy, tumbling, count, records } from 'tidemark';
 * import { runSync } from 'tidemark/testing';
 * const out = runSync([{ ts: 1 }, { ts: 2 }], (s) => s.pipe(
 *   eventTime({ timestamp: (e: { ts: number }) => e.ts, maxOutOfOrderness: 0 }),
 *   windowBy({ key: () => 'k', window: tumbling(10), aggregate: count() }), records()));
 * console.log(out[0]?.value); // 2
 * ```
 */
export function runSync<T, R>(events: Iterable<T>, operator: OperatorFunction<T, R>): R[] {
  const out: R[] = [];
  let failure: { error: unknown } | undefined;
  operator(from(events)).subscribe({
    next: (v) => out.push(v),
    error: (error) => {
      failure = { error };
    },
  });
  if (failure) throw failure.error;
  return out;
}

/** Options of {@link batchWindows}. */
export interface BatchWindowsOptions<T, K extends WindowKey, A, R> {
  readonly timestamp: (event: T) => number;
  readonly key: (event: T) => K;
  readonly window: WindowAssigner;
  readonly aggregate: Aggregate<T, A, R>;
}

/** One row of a batch result: the value of a (key, window) over all of its records. */
export interface BatchWindow<K extends WindowKey, R> {
  readonly key: K;
  readonly start: number;
  readonly end: number;
  readonly value: R;
}

/**
 * The plain batch answer: every (key, window) aggregated over all its
 * records, with no watermarks or lateness involved. For a stream whose
 * disorder stays within `maxOutOfOrderness`, the last pane of every window
 * of `windowBy` must equal this. Sorted by key, then start.
 *
 * @example
 * ```ts
 * import { tumbling, count } from 'tidemark';
 * import { batchWindows } from 'tidemark/testing';
 * const rows = batchWindows([{ ts: 5 }, { ts: 15 }],
 *   { timestamp: (e) => e.ts, key: () => 'all', window: tumbling(10), aggregate: count() });
 * console.log(rows.map((r) => r.value)); // [1, 1]
 * ```
 */
export function batchWindows<T, K extends WindowKey, A, R>(
  events: Iterable<T>,
  options: BatchWindowsOptions<T, K, A, R>,
): BatchWindow<K, R>[] {
  const { timestamp, key, window, aggregate } = options;
  const rows: { key: K; start: number; end: number; acc: A }[] = [];
  if (window.kind === 'session') {
    const byKey = new Map<K, { ts: number; e: T }[]>();
    for (const e of events) {
      const k = key(e);
      let list = byKey.get(k);
      if (!list) byKey.set(k, (list = []));
      list.push({ ts: timestamp(e), e });
    }
    for (const [k, list] of byKey) {
      list.sort((a, b) => a.ts - b.ts);
      let cur: (typeof rows)[number] | undefined;
      for (const { ts, e } of list) {
        if (cur && ts <= cur.end) {
          cur.end = Math.max(cur.end, ts + window.gap);
          cur.acc = aggregate.add(cur.acc, e);
        } else {
          cur = { key: k, start: ts, end: ts + window.gap, acc: aggregate.add(aggregate.create(), e) };
          rows.push(cur);
        }
      }
    }
  } else {
    const index = new Map<string, (typeof rows)[number]>();
    for (const e of events) {
      const k = key(e);
      for (const { start, end } of window.assign(timestamp(e))) {
        const id = windowId({ key: k, start, end });
        let row = index.get(id);
        if (!row) {
          row = { key: k, start, end, acc: aggregate.create() };
          index.set(id, row);
          rows.push(row);
        }
        row.acc = aggregate.add(row.acc, e);
      }
    }
  }
  return rows
    .map((r) => ({ key: r.key, start: r.start, end: r.end, value: aggregate.result(r.acc) }))
    .sort(compareWindows);
}

/**
 * Reduces window results to the latest pane of each (key, window), sorted
 * by key, then start: what a dashboard showing the results would display.
 * Applies a changelog (`windowBy({ changelog: true })`): an `update-before`
 * or `delete` removes its window's row.
 *
 * @example
 * ```ts
 * import { latestPanes } from 'tidemark/testing';
 * const view = latestPanes([
 *   { key: 'a', start: 0, end: 10, value: 1, timing: 'early', pane: 0 },
 *   { key: 'a', start: 0, end: 10, value: 3, timing: 'on-time', pane: 1 },
 * ]);
 * console.log(view.map((w) => w.value)); // [3]
 * ```
 */
export function latestPanes<K extends WindowKey, R>(results: Iterable<WindowResult<K, R>>): BatchWindow<K, R>[] {
  // The runtime's own view, so that a changelog's retractions and deletes apply as they do there.
  const latest = new LatestPanes(Number.POSITIVE_INFINITY);
  for (const r of results) latest.add(r);
  return (latest.entries() as WindowResult<K, R>[])
    .map(({ key, start, end, value }) => ({ key, start, end, value }))
    .sort(compareWindows);
}

/**
 * A deterministic pseudo-random generator (mulberry32) for reproducible tests and benchmarks.
 *
 * @param seed - any 32-bit integer
 * @returns a function giving floats in `[0, 1)`
 * @example
 * ```ts
 * import { seededRandom } from 'tidemark/testing';
 * const rand = seededRandom(42);
 * console.log(rand() === seededRandom(42)()); // true
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Reorders events so that they arrive out of order but never by more than
 * `maxOutOfOrderness`: no event arrives after one whose timestamp exceeds
 * its own by more than the bound. Each event is delayed by a random amount
 * in `[0, maxOutOfOrderness]` and the events are sorted by delayed time.
 *
 * @example
 * ```ts
 * import { shuffleWithin, seededRandom } from 'tidemark/testing';
 * const events = Array.from({ length: 5 }, (_, i) => ({ ts: i * 1_000 }));
 * const disordered = shuffleWithin(events, (e) => e.ts, 2_000, seededRandom(1));
 * ```
 */
export function shuffleWithin<T>(
  events: readonly T[],
  timestamp: (event: T) => number,
  maxOutOfOrderness: number,
  random: () => number = Math.random,
): T[] {
  // Events with equal delayed times may arrive in either order (their
  // timestamps differ by at most the bound), so ties are broken at random:
  // that is what produces the edge case of a record exactly `bound` behind.
  return events
    .map((e) => ({ e, tie: random(), at: timestamp(e) + Math.floor(random() * (maxOutOfOrderness + 1)) }))
    .sort((a, b) => a.at - b.at || a.tie - b.tie)
    .map((x) => x.e);
}
