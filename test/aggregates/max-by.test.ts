// maxBy: every record reaching the maximum, in tumbling, sliding and session windows.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventTime, InvalidOptionError, maxBy, records, session, sliding, tumbling, type WindowAssigner, windowBy } from '../../src/index.js';
import { batchWindows, runSync, seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface Bid {
  id: number;
  k: number;
  price: number;
  ts: number;
}

const ids = (bids: Bid[]) => bids.map((b) => b.id).sort((a, b) => a - b);

describe('maxBy', () => {
  it('keeps every record with the greatest score, in the order added', () => {
    const agg = maxBy((b: { p: number }) => b.p);
    let acc = agg.create();
    for (const p of [3, 5, 1, 5, Number.NaN, 4]) acc = agg.add(acc, { p });
    expect(agg.result(acc)).toEqual([{ p: 5 }, { p: 5 }]);
    expect(agg.result(agg.create())).toEqual([]);
    const other = agg.add(agg.create(), { p: 5 });
    expect(agg.result(agg.merge(acc, other))).toHaveLength(3);
    expect(agg.result(agg.merge(agg.create(), other))).toEqual([{ p: 5 }]);
    expect(agg.result(agg.merge(agg.add(agg.create(), { p: 9 }), acc))).toEqual([{ p: 9 }]);
  });

  it('returns a new array per firing, so a later pane does not change an earlier one', () => {
    const agg = maxBy((n: number) => n);
    const acc = agg.add(agg.create(), 1);
    const first = agg.result(acc);
    agg.add(acc, 1);
    expect(first).toEqual([1]);
  });

  it('validates f', () => {
    expect(() => maxBy(undefined as never)).toThrow(InvalidOptionError);
  });

  it('equals the batch answer for any disorder within the bound, in every window kind', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(tumbling(10) as WindowAssigner), fc.constant(sliding(10, 3) as WindowAssigner), fc.constant(session(4) as WindowAssigner)),
        fc.integer({ min: 0, max: 8 }),
        fc.integer(),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 4 })), { maxLength: 60 }),
        (window, bound, seed, rows) => {
          const rand = seededRandom(seed);
          const bids = rows.map(([ts, price], id) => ({ id, k: id % 2, price, ts }));
          const arrival = shuffleWithin(bids, (b) => b.ts, bound, rand);
          const stream = runSync(arrival, (s) =>
            s.pipe(
              eventTime({ timestamp: (b: Bid) => b.ts, maxOutOfOrderness: bound }),
              windowBy({ key: (b: Bid) => b.k, window, aggregate: maxBy((b: Bid) => b.price) }),
              records(),
            ),
          ).map((r) => ({ key: r.key, start: r.start, end: r.end, value: ids(r.value) }));
          const batch = batchWindows(bids, { timestamp: (b) => b.ts, key: (b) => b.k, window, aggregate: maxBy((b: Bid) => b.price) }).map((r) => ({
            ...r,
            value: ids(r.value),
          }));
          const order = (a: { key: number; start: number }, b: { key: number; start: number }) => a.key - b.key || a.start - b.start;
          expect(stream.sort(order)).toEqual(batch.sort(order));
        },
      ),
      { numRuns: 300 },
    );
  });
});
