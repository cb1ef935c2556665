// Type tests of the public API (vitest typecheck).
import type { Observable } from 'rxjs';
import { describe, expectTypeOf, it } from 'vitest';
import {
  type Aggregate,
  avg,
  type ChangeKind,
  count,
  createPipeline,
  eventTime,
  eventTimeBatches,
  filterRecords,
  mapRecords,
  max,
  maxBy,
  min,
  type PipelineSnapshot,
  records,
  sum,
  type Timed,
  topN,
  tumbling,
  type ValueCounts,
  type WindowChange,
  type WindowResult,
  watermarks,
  windowBy,
} from '../src/index.js';

interface Click {
  page: string;
  user: number;
  ts: number;
}
declare const clicks$: Observable<Click>;

describe('public types', () => {
  it('infers the timed stream and the result shape through the pipe', () => {
    const timed = clicks$.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 2_000 }));
    expectTypeOf(timed).toEqualTypeOf<Observable<Timed<Click>>>();
    const results = timed.pipe(windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }), records());
    expectTypeOf(results).toEqualTypeOf<Observable<WindowResult<string, number>>>();
    const byUser = timed.pipe(windowBy({ key: (e) => e.user, window: tumbling(60_000), aggregate: avg((e: Click) => e.ts) }), records());
    expectTypeOf(byUser).toEqualTypeOf<Observable<WindowResult<number, number>>>();
    expectTypeOf(timed.pipe(watermarks())).toEqualTypeOf<Observable<number>>();
    expectTypeOf(timed.pipe(mapRecords((c) => c.page.length), records())).toEqualTypeOf<Observable<number>>();
  });

  it('accepts arrays with eventTimeBatches', () => {
    const batches$ = {} as Observable<Click[]>;
    expectTypeOf(batches$.pipe(eventTimeBatches({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }))).toEqualTypeOf<Observable<Timed<Click>>>();
  });

  it('refuses keys that are not strings or numbers, and aggregates of another record type', () => {
    const timed = clicks$.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }));
    // @ts-expect-error a key must be a string or a number
    timed.pipe(windowBy({ key: (e) => ({ page: e.page }), window: tumbling(10), aggregate: count() }));
    // @ts-expect-error the aggregate reads a field Click does not have
    timed.pipe(windowBy({ key: (e) => e.page, window: tumbling(10), aggregate: sum((e: { price: number }) => e.price) }));
    // @ts-expect-error windowBy needs a timed stream
    clicks$.pipe(windowBy({ key: (e: Click) => e.page, window: tumbling(10), aggregate: max((e: Click) => e.ts) }));
  });

  it('types pipelines and snapshots', () => {
    const p = createPipeline((s: Observable<Click>) => s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), records()));
    const run = p.open((c) => expectTypeOf(c).toEqualTypeOf<Click>());
    expectTypeOf(run.snapshot()).toEqualTypeOf<PipelineSnapshot>();
    expectTypeOf(run.push).parameter(0).toEqualTypeOf<Click>();
  });

  it('narrows with a type-guard filterRecords, and keeps types through maxBy and topN', () => {
    type Ev = { kind: 'bid'; price: number; ts: number } | { kind: 'person'; name: string; ts: number };
    const timed = ({} as Observable<Ev>).pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }));
    const bids = timed.pipe(filterRecords((e): e is Extract<Ev, { kind: 'bid' }> => e.kind === 'bid'));
    expectTypeOf(bids).toEqualTypeOf<Observable<Timed<{ kind: 'bid'; price: number; ts: number }>>>();
    expectTypeOf(timed.pipe(filterRecords((e) => e.ts > 0))).toEqualTypeOf<Observable<Timed<Ev>>>();
    const top = bids.pipe(windowBy({ key: (b) => b.ts, window: tumbling(10), aggregate: maxBy((b: { price: number }) => b.price) }), records());
    expectTypeOf(top).toEqualTypeOf<Observable<WindowResult<number, { price: number }[]>>>();
    const ranked = bids.pipe(windowBy({ key: (b) => b.price, window: tumbling(10), aggregate: count() }), topN({ n: 3, by: (r) => r.value }), records());
    expectTypeOf(ranked).toEqualTypeOf<Observable<WindowResult<number, number>>>();
  });

  it('types the changelog: WindowChange records with a kind to switch on, min/max with retract', () => {
    const timed = clicks$.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }));
    const changes = timed.pipe(windowBy({ key: (e) => e.page, window: tumbling(10), aggregate: count(), changelog: true }));
    expectTypeOf(changes).toEqualTypeOf<Observable<Timed<WindowChange<string, number>>>>();
    expectTypeOf<WindowChange<string, number>['kind']>().toEqualTypeOf<ChangeKind>();
    const lowest = changes.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: min((r: WindowResult<string, number>) => r.value, { retract: true }) }), records());
    expectTypeOf(lowest).toEqualTypeOf<Observable<WindowResult<string, number>>>();
    expectTypeOf(min((n: number) => n, { retract: true })).toEqualTypeOf<Aggregate<number, ValueCounts, number>>();
    // @ts-expect-error only `retract: true` is an option
    min((n: number) => n, { retract: false });
  });
});
