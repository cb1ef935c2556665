import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap } from '../../src/windows/timer-heap.js';

describe('TimerHeap', () => {
  it('pops in (time, seq) order whatever the order of pushes and pops', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ time: fc.integer({ min: -5, max: 5 }), seq: fc.nat(1000) }), fc.constant('pop' as const)), {
          maxLength: 200,
        }),
        (ops) => {
          const heap = new TimerHeap<{ time: number; seq: number }>();
          const model: { time: number; seq: number }[] = [];
          let nextSeq = 0;
          for (const raw of ops) {
            // sequence numbers are unique, as the engines make them
            const op = raw === 'pop' ? raw : { time: raw.time, seq: raw.seq * 1000 + nextSeq++ };
            if (op === 'pop') {
              model.sort((a, b) => a.time - b.time || a.seq - b.seq);
              expect(heap.peekTime()).toBe(model[0]?.time ?? Number.POSITIVE_INFINITY);
              expect(heap.pop()).toBe(model.shift());
            } else {
              heap.push(op);
              model.push(op);
            }
            expect(heap.size).toBe(model.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
