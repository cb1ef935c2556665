/**
 * `maxBy`: the records that reach a window's maximum, not just the maximum.
 *
 * @module
 */
import { requireFunction } from '../options.js';
import { type Aggregate, refusesRetraction } from './aggregate.js';

/** Accumulator of {@link maxBy}: the greatest score so far and every record that reached it (none yet: `items` is empty). */
export interface MaxByAccumulator<T> {
  max: number;
  items: T[];
}

/**
 * Keeps, per key and window, every record whose `f(record)` is the greatest
 * seen, ties included, in the order they were added: "the bids with the
 * highest price in each window" (Nexmark q7), which SQL writes as a join of
 * the window's records with the window's `MAX`. State is the maximum and its
 * ties, never the whole window. The result is a fresh array on every firing.
 * It cannot retract, so a {@link windowBy} over a changelog refuses it.
 *
 * @param f - the score to maximise; records scoring `NaN` are ignored
 * @throws {@link InvalidOptionError} when `f` is not a function
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, tumbling, maxBy, records } from 'tidemark';
 * type Bid = { auction: number; price: number; ts: number };
 * const bids: Bid[] = [{ auction: 1, price: 5, ts: 1 }, { auction: 2, price: 9, ts: 2 }, { auction: 3, price: 9, ts: 3 }];
 * from(bids)
 *   .pipe(eventTime({ timestamp: (b) => b.ts, maxOutOfOrderness: 0 }),
 *         windowBy({ key: () => 'all', window: tumbling(10), aggregate: maxBy((b: Bid) => b.price) }), records())
 *   .subscribe((r) => console.log(r.value.map((b) => b.auction))); // [2, 3]
 * ```
 * @see {@link max} for the maximum alone, {@link topN} to rank the results of a window
 */
export function maxBy<T>(f: (value: T) => number): Aggregate<T, MaxByAccumulator<T>, T[]> {
  requireFunction('maxBy(f)', f, 'pass e.g. (bid) => bid.price');
  const agg: Aggregate<T, MaxByAccumulator<T>, T[]> = {
    create: () => ({ max: 0, items: [] }),
    add(acc, value) {
      const score = f(value);
      if (acc.items.length === 0 || score > acc.max) {
        if (Number.isNaN(score)) return acc;
        acc.max = score;
        acc.items = [value];
      } else if (score === acc.max) acc.items.push(value);
      return acc;
    },
    merge(a, b) {
      if (b.items.length === 0) return a;
      if (a.items.length === 0 || b.max > a.max) return b;
      if (a.max > b.max) return a;
      return { max: a.max, items: a.items.concat(b.items) };
    },
    result: (acc) => acc.items.slice(),
  };
  return refusesRetraction(
    agg,
    'maxBy() keeps only the records that reach the maximum, so it cannot take one back; over a changelog of ' +
      'window results, topN({ n: 1, by: (r) => …, ties: true }) gives the rows with the maximum of each window',
  );
}
