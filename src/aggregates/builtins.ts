/**
 * The built-in aggregates. Their accumulators are numbers (or a two-number
 * object for {@link avg}), the cheapest state a window can hold.
 *
 * @module
 */
import { optionalFunction } from '../options.js';
import type { Aggregate } from './aggregate.js';

const COUNT: Aggregate<unknown, number, number> = {
  create: () => 0,
  add: (acc) => acc + 1,
  merge: (a, b) => a + b,
  result: (acc) => acc,
};

/**
 * Counts the records of each key and window.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, tumbling, count, records } from 'tidemark';
 * from([{ ts: 1 }, { ts: 2 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *         windowBy({ key: () => 'all', window: tumbling(10), aggregate: count() }), records())
 *   .subscribe((r) => console.log(r.value)); // 2
 * ```
 * @see {@link sum}, {@link aggregate}
 */
export function count(): Aggregate<unknown, number, number> {
  return COUNT;
}

type Num<T> = (value: T) => number;
const identity = (value: unknown) => value as number;

function numeric<T>(name: string, f: Num<T> | undefined): Num<T> {
  optionalFunction(`${name}(f)`, f);
  return f ?? identity;
}

/**
 * Sums `f(record)` per key and window (`f` defaults to the record itself, for
 * streams of numbers).
 *
 * @param f - extracts the number to add
 * @example
 * ```ts
 * import { sum } from 'tidemark';
 * const revenue = sum((e: { price: number }) => e.price);
 * console.log(revenue.result(revenue.add(revenue.create(), { price: 3 }))); // 3
 * ```
 * @see {@link avg}, {@link aggregate}
 */
export function sum<T = number>(f?: Num<T>): Aggregate<T, number, number> {
  const get = numeric('sum', f);
  return { create: () => 0, add: (acc, v) => acc + get(v), merge: (a, b) => a + b, result: (acc) => acc };
}

function extreme<T>(name: string, f: Num<T> | undefined, pick: (a: number, b: number) => number) {
  const get = numeric(name, f);
  // `null` stands for "no record yet"; a window only fires once it has one.
  const both = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : pick(a, b));
  const agg: Aggregate<T, number | null, number> = {
    create: () => null,
    add: (acc, v) => both(acc, get(v)),
    merge: both,
    result: (acc) => acc as number,
  };
  return agg;
}

/**
 * The smallest `f(record)` per key and window.
 *
 * @param f - extracts the number to compare (defaults to the record itself)
 * @example
 * ```ts
 * import { min } from 'tidemark';
 * const lowest = min((bid: { price: number }) => bid.price);
 * ```
 * @see {@link max}
 */
export function min<T = number>(f?: Num<T>): Aggregate<T, number | null, number> {
  return extreme('min', f, Math.min);
}

/**
 * The largest `f(record)` per key and window.
 *
 * @param f - extracts the number to compare (defaults to the record itself)
 * @example
 * ```ts
 * import { max } from 'tidemark';
 * const highest = max((bid: { price: number }) => bid.price);
 * ```
 * @see {@link min}
 */
export function max<T = number>(f?: Num<T>): Aggregate<T, number | null, number> {
  return extreme('max', f, Math.max);
}

/** Accumulator of {@link avg}. */
export interface AvgAccumulator {
  sum: number;
  count: number;
}

/**
 * The arithmetic mean of `f(record)` per key and window.
 *
 * @param f - extracts the number to average (defaults to the record itself)
 * @example
 * ```ts
 * import { avg } from 'tidemark';
 * const a = avg<number>();
 * console.log(a.result(a.add(a.add(a.create(), 1), 2))); // 1.5
 * ```
 * @see {@link sum}, {@link count}
 */
export function avg<T = number>(f?: Num<T>): Aggregate<T, AvgAccumulator, number> {
  const get = numeric('avg', f);
  return {
    create: () => ({ sum: 0, count: 0 }),
    add: (acc, v) => {
      acc.sum += get(v);
      acc.count += 1;
      return acc;
    },
    merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
    result: (acc) => acc.sum / acc.count,
  };
}
