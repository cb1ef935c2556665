import fc from 'fast-check';
import type { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createPipeline, eventTime, type PipelineSnapshot, processByKey, records } from '../../src/index.js';

interface E {
  readonly k: number;
  readonly ts: number;
}

/** Running count per key, emitted with each record; the final count is emitted when the state expires. */
const counter = (ttl: number) =>
  createPipeline((e$: Observable<E>) =>
    e$.pipe(
      eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 5 }),
      processByKey({
        key: (e) => e.k,
        ttl,
        process: (n: number | undefined, _e, ctx) => {
          const next = (n ?? 0) + 1;
          ctx.emit(`${ctx.key}:${next}@${ctx.timestamp}`);
          return next;
        },
        expire: (n, ctx) => ctx.emit(`${ctx.key} expired at ${n}@${ctx.timestamp}`),
      }),
      records(),
    ),
  );

describe('processByKey', () => {
  it('hands each key its state, and drops it ttl ms of event time after its last write', () => {
    const out: string[] = [];
    counter(100).run(
      [
        { k: 1, ts: 0 },
        { k: 1, ts: 50 },
        { k: 2, ts: 120 },
        { k: 1, ts: 140 }, // 1's state lives until the watermark reaches 150
        { k: 2, ts: 300 }, // watermark 294: 1 expired at 240, 2 at 220
        { k: 1, ts: 301 },
      ],
      (s) => out.push(String(s)),
    );
    expect(out).toEqual([
      '1:1@0',
      '1:2@50',
      '2:1@120',
      '1:3@140',
      '2 expired at 1@220', // the record at 300 outlived it, though the watermark (135) had not
      '2:1@300',
      '1 expired at 3@240', // the watermark 294
      '1:1@301',
      '2 expired at 1@400',
      '1 expired at 1@401',
    ]);
  });

  it('keeps state bounded on an endless stream of fresh keys (and grows without expiry)', () => {
    const most = (ttl: number) => {
      const run = counter(ttl).open(() => {});
      let m = 0;
      for (let i = 0; i < 20_000; i++) {
        run.push({ k: i, ts: i * 10 });
        m = Math.max(m, run.stats()['processByKey#0']?.keys as number);
      }
      return m;
    };
    expect(most(1_000)).toBeLessThanOrEqual(102);
    expect(most(1e12)).toBe(20_000);
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    const events = fc.array(fc.record({ k: fc.integer({ min: 0, max: 3 }), ts: fc.integer({ min: 0, max: 500 }) }), { maxLength: 60 });
    fc.assert(
      fc.property(events, fc.integer({ min: 1, max: 100 }), fc.nat(), (all, ttl, cut) => {
        const p = counter(ttl);
        const whole: string[] = [];
        const a = p.open((s) => whole.push(String(s)));
        a.pushAll(all);
        a.end();
        const at = cut % (all.length + 1);
        const parts: string[] = [];
        const first = p.open((s) => parts.push(String(s)));
        first.pushAll(all.slice(0, at));
        const saved = JSON.parse(JSON.stringify(first.snapshot())) as PipelineSnapshot;
        first.unsubscribe();
        const second = p.open((s) => parts.push(String(s)), { restore: saved });
        second.pushAll(all.slice(at));
        second.end();
        expect(parts).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses bad options at creation, each saying how to fix it', () => {
    const process = () => 1;
    expect(() => processByKey({ ttl: 10, process } as never)).toThrow(/processByKey.key: expected a function/);
    expect(() => processByKey({ key: () => 1, process } as never)).toThrow(/processByKey.ttl: is required.*grows without bound/);
    expect(() => processByKey({ key: () => 1, ttl: 0, process })).toThrow(/processByKey.ttl: must be a finite number > 0/);
    expect(() => processByKey({ key: () => 1, ttl: 10 } as never)).toThrow(/processByKey.process: expected a function/);
  });
});
