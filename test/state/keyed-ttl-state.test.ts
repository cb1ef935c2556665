import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedTtlState } from '../../src/state/keyed-ttl-state.js';

describe('KeyedTtlState', () => {
  it('agrees with a plain model on any sequence of writes, deletes and watermarks, and across snapshot/restore', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), k: fc.integer({ min: 0, max: 5 }), ts: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ kind: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('advance' as const), wm: fc.integer({ min: 0, max: 150 }) }),
      fc.record({ kind: fc.constant('snapshot' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 40 }), (ops, ttl) => {
        let s = new KeyedTtlState<number, number>(ttl);
        const model = new Map<number, { v: number; exp: number }>();
        let wm = Number.NEGATIVE_INFINITY;
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'set') {
            const old = model.get(o.k)?.exp;
            // An expired state not yet purged starts over (a late write).
            const exp = old === undefined || old <= wm ? o.ts + ttl : Math.max(old, o.ts + ttl);
            model.set(o.k, { v: ++n, exp });
            s.set(o.k, n, o.ts);
          } else if (o.kind === 'delete') {
            model.delete(o.k);
            s.delete(o.k);
          } else if (o.kind === 'advance') {
            wm = Math.max(wm, o.wm);
            const expired: [number, number][] = [];
            s.advance(wm, (k, _v, at) => expired.push([k, at]));
            const want = [...model].filter(([, x]) => x.exp <= wm);
            for (const [k] of want) model.delete(k);
            expect(expired.map(([k]) => k).sort()).toEqual(want.map(([k]) => k).sort());
            // Oldest expiry first.
            expect(expired.map(([, at]) => at)).toEqual([...expired.map(([, at]) => at)].sort((a, b) => a - b));
          } else {
            const copy = new KeyedTtlState<number, number>(ttl);
            copy.restore(JSON.parse(JSON.stringify(s.snapshot())), 'test');
            s = copy;
          }
          expect(s.size).toBe(model.size);
          for (const [k, x] of model) expect(s.get(k)).toBe(x.exp <= wm ? undefined : x.v);
        }
      }),
      { numRuns: 300 },
    );
  });
});
