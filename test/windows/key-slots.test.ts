import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeySlots } from '../../src/windows/key-slots.js';

describe('KeySlots', () => {
  it('behaves like an insertion-ordered Map from key to slot, for any mix of keys', () => {
    const key = fc.oneof(
      fc.integer({ min: -5, max: 5 }),
      fc.integer(),
      fc.constantFrom(0, -0, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 1.5, Number.MAX_SAFE_INTEGER),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(key, { maxLength: 300 }), (keys) => {
        const slots = new KeySlots<string | number>();
        const model = new Map<string | number, number>();
        for (const k of keys) {
          const expected = model.get(k) ?? -1;
          expect(slots.find(k)).toBe(expected);
          if (expected < 0) {
            model.set(k, model.size);
            expect(slots.add(k)).toBe(model.size - 1);
          }
        }
        expect(slots.keys).toEqual([...model.keys()]);
        expect(slots.size).toBe(model.size);
        for (const [k, s] of model) expect(slots.find(k)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps working across many table growths', () => {
    const slots = new KeySlots<number>();
    for (let i = 0; i < 100_000; i++) slots.add(i * 7919);
    for (let i = 0; i < 100_000; i += 997) expect(slots.find(i * 7919)).toBe(i);
    expect(slots.find(-1)).toBe(-1);
  });
});
