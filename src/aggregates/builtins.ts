/**
 * The built-in aggregates. Their accumulators are numbers (or a two-number
 * object for {@link avg}), the cheapest state a window can hold.
 *
 * @module
 */
import { describe, InvalidOptionError } from '../errors.js';
import { optionalFunction, rejectUnknown, requireObject } from '../options.js';
import { type Aggregate, refusesRetraction } from './aggregate.js';

const COUNT: Aggregate<unknown, number, number> = {
  create: () => 0,
  add: (acc) => acc + 1,
  merge: (a, b) => a + b,
  result: (acc) => acc,
  retract: (acc) => acc - 1,
};

/**
 * Counts the records of each key and window. Retracts (a changelog
 * upstream) by subtracting one.
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
 * streams of numbers). Retracts by subtracting (exact for integers; for
 * fractions, up to floating-point rounding, and exact again once a window's
 * rows are all retracted: its accumulator restarts at 0).
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
  return {
    create: () => 0,
    add: (acc, v) => acc + get(v),
    merge: (a, b) => a + b,
    result: (acc) => acc,
    retract: (acc, v) => acc - get(v),
  };
}

function extreme<T>(name: 'min' | 'max', f: Num<T> | undefined, pick: (a: number, b: number) => number) {
  const get = numeric(name, f);
  // `null` stands for "no record yet"; a window only fires once it has one.
  const both = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : pick(a, b));
  const agg: Aggregate<T, number | null, number> = {
    create: () => null,
    add: (acc, v) => both(acc, get(v)),
    merge: both,
    result: (acc) => acc as number,
  };
  return refusesRetraction(
    agg,
    `${name}() keeps only the ${name === 'min' ? 'smallest' : 'largest'} value, so it cannot take one back; ` +
      `use ${name}(f, { retract: true }), which keeps a count of every distinct value`,
  );
}

/**
 * Accumulator of `min(f, { retract: true })` and `max(f, { retract: true })`:
 * every distinct value in ascending order with how many records hold it,
 * and how many records gave `NaN`.
 */
export interface ValueCounts {
  values: number[];
  counts: number[];
  nan: number;
}

/** First index whose value is >= `x` in an ascending array. */
function lowerBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function retractableExtreme<T>(name: 'min' | 'max', f: Num<T> | undefined): Aggregate<T, ValueCounts, number> {
  const get = numeric(name, f);
  const step = (acc: ValueCounts, x: number, by: 1 | -1): ValueCounts => {
    if (Number.isNaN(x)) {
      acc.nan += by;
      return acc;
    }
    const i = lowerBound(acc.values, x);
    if (acc.values[i] === x) {
      const c = (acc.counts[i] as number) + by;
      if (c > 0) acc.counts[i] = c;
      else {
        acc.values.splice(i, 1);
        acc.counts.splice(i, 1);
      }
    } else if (by > 0) {
      acc.values.splice(i, 0, x);
      acc.counts.splice(i, 0, 1);
    }
    return acc;
  };
  return {
    create: () => ({ values: [], counts: [], nan: 0 }),
    add: (acc, v) => step(acc, get(v), 1),
    retract: (acc, v) => step(acc, get(v), -1),
    merge(a, b) {
      for (let i = 0; i < b.values.length; i++)
        for (let c = b.counts[i] as number; c > 0; c--) step(a, b.values[i] as number, 1);
      a.nan += b.nan;
      return a;
    },
    // As Math.min/Math.max: NaN once any record gave NaN; `null` for no record (such a window never fires).
    result: (acc) =>
      acc.nan > 0
        ? Number.NaN
        : ((name === 'min' ? acc.values[0] : acc.values[acc.values.length - 1]) ?? (null as unknown as number)),
  };
}

/** Options of {@link min} and {@link max}. */
export interface ExtremeOptions {
  /**
   * Keep a count of every distinct value, so that records can be taken back
   * (needed downstream of a changelog). Costs O(distinct values) state per
   * window instead of one number.
   */
  readonly retract: true;
}

/**
 * The smallest `f(record)` per key and window. It keeps one number, so it
 * cannot retract; downstream of a changelog pass `{ retract: true }`.
 *
 * @param f - extracts the number to compare (defaults to the record itself)
 * @param options - `{ retract: true }` to support retractions, see {@link ExtremeOptions}
 * @example
 * ```ts
 * import { min } from 'tidemark';
 * const lowest = min((bid: { price: number }) => bid.price);
 * const lowestOfRows = min((r: { value: number }) => r.value, { retract: true }); // over a changelog
 * ```
 * @see {@link max}
 */
export function min<T = number>(f?: Num<T>): Aggregate<T, number | null, number>;
export function min<T = number>(f: Num<T> | undefined, options: ExtremeOptions): Aggregate<T, ValueCounts, number>;
export function min<T = number>(f?: Num<T>, options?: ExtremeOptions): Aggregate<T, number | null, number> | Aggregate<T, ValueCounts, number> {
  return wantsRetract('min', options) ? retractableExtreme('min', f) : extreme('min', f, Math.min);
}

/**
 * The largest `f(record)` per key and window. It keeps one number, so it
 * cannot retract; downstream of a changelog pass `{ retract: true }`.
 *
 * @param f - extracts the number to compare (defaults to the record itself)
 * @param options - `{ retract: true }` to support retractions, see {@link ExtremeOptions}
 * @example
 * ```ts
 * import { max } from 'tidemark';
 * const highest = max((bid: { price: number }) => bid.price);
 * const highestOfRows = max((r: { value: number }) => r.value, { retract: true }); // over a changelog
 * ```
 * @see {@link min}
 */
export function max<T = number>(f?: Num<T>): Aggregate<T, number | null, number>;
export function max<T = number>(f: Num<T> | undefined, options: ExtremeOptions): Aggregate<T, ValueCounts, number>;
export function max<T = number>(f?: Num<T>, options?: ExtremeOptions): Aggregate<T, number | null, number> | Aggregate<T, ValueCounts, number> {
  return wantsRetract('max', options) ? retractableExtreme('max', f) : extreme('max', f, Math.max);
}

function wantsRetract(name: string, options: ExtremeOptions | undefined): boolean {
  if (options === undefined) return false;
  requireObject(name, options);
  rejectUnknown(name, options, ['retract']);
  if (options.retract !== true)
    throw new InvalidOptionError(`${name}.retract`, `expected true (or leave the options out), got ${describe(options.retract)}`);
  return true;
}

/** Accumulator of {@link avg}. */
export interface AvgAccumulator {
  sum: number;
  count: number;
}

/**
 * The arithmetic mean of `f(record)` per key and window. Retracts by
 * subtracting from its sum and count.
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
    retract: (acc, v) => {
      acc.sum -= get(v);
      acc.count -= 1;
      return acc;
    },
  };
}
