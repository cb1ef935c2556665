import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { timeOrder } from '../../src/server/time-order.js';

describe('timeOrder', () => {
  it('orders by time, ties by sequence, on every path (radix, packed, comparator)', () => {
    const times = [
      fc.integer({ min: -50, max: 50 }), // radix, one digit
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), // radix, three digits
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), // packed into doubles
      fc.double({ min: -1e15, max: 1e15, noNaN: true }), // comparator
    ];
    fc.assert(
      fc.property(
        fc.oneof(...times.map((t) => fc.array(fc.tuple(t, fc.integer()), { maxLength: 80 }))),
        fc.boolean(),
        (rows, shuffledSeq) => {
          const ts = rows.map(([t]) => t);
          const seq = shuffledSeq ? rows.map(([, s]) => s) : rows.map((_, i) => i + 1);
          const order = [...timeOrder(ts, seq)];
          const expected = rows.map((_, i) => i).sort((a, b) => ts[a]! - ts[b]! || seq[a]! - seq[b]! || a - b);
          expect(order.map((i) => [ts[i], seq[i]])).toEqual(expected.map((i) => [ts[i], seq[i]]));
          expect(new Set(order).size).toBe(rows.length);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('keeps ties in position order without a tie-breaker', () => {
    expect([...timeOrder([5, 3, 5, 3, 4])]).toEqual([1, 3, 4, 0, 2]);
    expect([...timeOrder([5.5, 3, 5.5, 3])]).toEqual([1, 3, 0, 2]);
  });
});
