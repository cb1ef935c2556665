import fc from 'fast-check';
import { from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  count,
  countWindow,
  countWindowBy,
  createPipeline,
  eventTime,
  InvalidOptionError,
  type PipelineSnapshot,
  records,
  sum,
} from '../../src/index.js';

interface E {
  readonly k: number;
  readonly ts: number;
  readonly id: number;
}

const BOUND = 10;
const ids = aggregate<E, number[], string>({
  create: () => [],
  add: (acc, e) => (acc.push(e.id), acc),
  merge: (a, b) => a.concat(b),
  result: (acc) => acc.join(','),
});

/** Events with distinct timestamps per key, arriving in any order within the bound. */
const events = fc
  .array(
    fc.record({ k: fc.integer({ min: 0, max: 2 }), ts: fc.integer({ min: 0, max: 300 }), jitter: fc.integer({ min: 0, max: BOUND }) }),
    { maxLength: 80 },
  )
  .map((raw) => {
    const seen = new Set<string>();
    return raw
      .filter((r) => !seen.has(`${r.k}@${r.ts}`) && seen.add(`${r.k}@${r.ts}`))
      .map((r, id) => ({ e: { k: r.k, ts: r.ts, id }, at: r.ts + r.jitter }))
      .sort((a, b) => a.at - b.at)
      .map((x) => x.e);
  });

const windows = fc.integer({ min: 1, max: 6 }).chain((size) => fc.record({ size: fc.constant(size), slide: fc.integer({ min: 1, max: size }) }));

/** The batch answer: each key's records sorted by time; a firing every `slide` records with the last `size`. */
function batch(all: E[], size: number, slide: number, ttl = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  const byKey = new Map<number, E[]>();
  for (const e of all) byKey.set(e.k, [...(byKey.get(e.k) ?? []), e]);
  for (const [k, list] of byKey) {
    list.sort((a, b) => a.ts - b.ts);
    let run: E[] = [];
    for (const e of list) {
      const prev = run.at(-1);
      if (prev && e.ts - prev.ts >= ttl) run = [];
      run.push(e);
      if (run.length % slide === 0) {
        const w = run.slice(-size);
        out.push(`${k}#${run.length / slide - 1}:${w.map((x) => x.id).join(',')}@${e.ts}`);
      }
    }
  }
  return out.sort();
}

const pipeline = (size: number, slide: number, ttl?: number) =>
  createPipeline((e$: import('rxjs').Observable<E>) =>
    e$.pipe(
      eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: BOUND }),
      countWindowBy({ key: (e) => e.k, window: countWindow(size, slide), aggregate: ids, ...(ttl ? { ttl } : {}) }),
      records(),
    ),
  );
const show = (r: { key: number; index: number; value: string; last: number }) => `${r.key}#${r.index}:${r.value}@${r.last}`;

describe('countWindowBy', () => {
  it('fires every slide records of a key with the last size, in event-time order', () => {
    const out: string[] = [];
    from([3, 1, 2, 4, 5, 6].map((ts) => ({ k: 'a', ts })))
      .pipe(
        eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 5 }),
        countWindowBy({ key: (e) => e.k, window: countWindow(3, 2), aggregate: sum((e) => e.ts) }),
        records(),
      )
      .subscribe((r) => out.push(`${r.count}:${r.value} [${r.first},${r.last}] #${r.index}`));
    expect(out).toEqual(['2:3 [1,2] #0', '3:9 [2,4] #1', '3:15 [4,6] #2']);
  });

  it('equals a batch computation over each key’s records in time order, for any arrival within the bound', () => {
    fc.assert(
      fc.property(events, windows, fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), (all, { size, slide }, ttl) => {
        const out: string[] = [];
        const run = pipeline(size, slide, ttl).open((r) => out.push(show(r)));
        run.pushAll(all);
        expect(run.stats()['countWindowBy#0']).toMatchObject({ lateRecords: 0 });
        run.end();
        expect(out.sort()).toEqual(batch(all, size, slide, ttl));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    fc.assert(
      fc.property(events, windows, fc.nat(), fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), (all, { size, slide }, cut, ttl) => {
        const p = pipeline(size, slide, ttl);
        const whole: string[] = [];
        const a = p.open((r) => whole.push(show(r)));
        a.pushAll(all);
        a.end();
        const at = cut % (all.length + 1);
        const parts: string[] = [];
        const first = p.open((r) => parts.push(show(r)));
        first.pushAll(all.slice(0, at));
        const saved = JSON.parse(JSON.stringify(first.snapshot())) as PipelineSnapshot;
        first.unsubscribe();
        const second = p.open((r) => parts.push(show(r)), { restore: saved });
        second.pushAll(all.slice(at));
        second.end();
        expect(parts).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps state bounded on an endless stream of fresh keys with a ttl (and grows without one)', () => {
    const keysAfter = (ttl: number | undefined) => {
      const run = createPipeline((e$: import('rxjs').Observable<{ k: number; ts: number }>) =>
        e$.pipe(
          eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
          countWindowBy({ key: (e) => e.k, window: countWindow(10), aggregate: count(), ...(ttl ? { ttl } : {}) }),
          records(),
        ),
      ).open(() => {});
      let most = 0;
      for (let i = 0; i < 20_000; i++) {
        run.push({ k: i, ts: i });
        most = Math.max(most, run.stats()['countWindowBy#0']?.keys as number);
      }
      return most;
    };
    expect(keysAfter(100)).toBeLessThanOrEqual(101);
    expect(keysAfter(undefined)).toBeGreaterThan(19_000);
  });

  it('refuses bad options at creation, each saying how to fix it', () => {
    expect(() => countWindow(0)).toThrow(/countWindow.size: must be a whole number >= 1, got 0/);
    expect(() => countWindow(3, 4)).toThrow(/must be <= size.*countWindow\(3\)/);
    expect(() => countWindow(2.5)).toThrow(InvalidOptionError);
    expect(() => countWindowBy({ key: () => 1, window: countWindow(2), aggregate: count(), ttl: 0 })).toThrow(/ttl: must be a finite number > 0/);
    expect(() => countWindowBy({ key: () => 1, window: { kind: 'tumbling' } as never, aggregate: count() })).toThrow(/expected countWindow\(size\)/);
    expect(() => countWindowBy({ window: countWindow(2), aggregate: count() } as never)).toThrow(/countWindowBy.key/);
  });
});
