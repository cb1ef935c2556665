import fc from 'fast-check';
import { from, map, NEVER, type Observable, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  createPipeline,
  eventTime,
  InvalidOptionError,
  InvalidRecordError,
  intervalJoin,
  type Joined,
  type PipelineSnapshot,
  records,
  type Timed,
  timedRecord,
  watermark,
} from '../../src/index.js';
import { type Side, sidedEvents, twoSided } from './join-fixtures.js';

const BOUND = 10;

const joinPipeline = (lower: number, upper: number, flags: { lowerExclusive?: boolean; upperExclusive?: boolean } = {}) =>
  createPipeline(
    twoSided<string>(BOUND, (left$, right$) =>
      left$.pipe(
        intervalJoin(right$, {
          leftKey: (e: Side) => e.k,
          rightKey: (e: Side) => e.k,
          lower,
          upper,
          ...flags,
          select: (a, b) => `${a.id}-${b.id}@${Math.max(a.ts, b.ts)}`,
        }),
        records(),
      ),
    ),
  );

function batchJoin(events: Side[], lower: number, upper: number, lx = false, ux = false): string[] {
  const out: string[] = [];
  for (const a of events)
    for (const b of events) {
      if (a.side !== 'L' || b.side !== 'R' || a.k !== b.k) continue;
      const d = b.ts - a.ts;
      if (d < lower || d > upper || (lx && d === lower) || (ux && d === upper)) continue;
      out.push(`${a.id}-${b.id}@${Math.max(a.ts, b.ts)}`);
    }
  return out.sort();
}

const bounds = fc
  .tuple(fc.integer({ min: -30, max: 30 }), fc.integer({ min: 0, max: 40 }))
  .map(([lower, width]) => ({ lower, upper: lower + width }));

describe('intervalJoin', () => {
  it('pairs records of equal keys within the interval, stamped with the later timestamp', () => {
    const out: string[] = [];
    const orders = from([
      { id: 1, ts: 1_000 },
      { id: 2, ts: 2_000 },
      { id: 3, ts: 3_000 },
    ]).pipe(eventTime({ timestamp: (o) => o.ts, maxOutOfOrderness: 0 }));
    const payments = from([
      { order: 1, ts: 4_000 },
      { order: 2, ts: 500 },
      { order: 3, ts: 63_000 },
      { order: 3, ts: 63_001 },
    ]).pipe(eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 0 }));
    orders
      .pipe(intervalJoin(payments, { leftKey: (o) => o.id, rightKey: (p) => p.order, lower: 0, upper: 60_000 }))
      .subscribe((el: Timed<Joined<{ id: number; ts: number }, { order: number; ts: number }>>) =>
        out.push(el.kind === 'record' ? `${el.value.left.id}:${el.value.right.ts}@${el.timestamp}` : `w${el.watermark}`),
      );
    // Order 2's payment came before the order (outside [0, 60 s]); order 3's second payment 60.001 s after it.
    expect(out.filter((s) => !s.startsWith('w'))).toEqual(['1:4000@4000', '3:63000@63000']);
    expect(out.at(-1)).toBe('wInfinity');
  });

  it('gives the batch join for any arrival order within the bound, and never emits behind the watermark', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), bounds, fc.boolean(), fc.boolean(), (events, { lower, upper }, lx, ux) => {
        fc.pre(!(lower === upper && (lx || ux)));
        const timed: Timed<string>[] = [];
        const pipeline = createPipeline(
          twoSided<Timed<string>>(BOUND, (left$, right$) =>
            left$.pipe(
              intervalJoin(right$, {
                leftKey: (e: Side) => e.k,
                rightKey: (e: Side) => e.k,
                lower,
                upper,
                lowerExclusive: lx,
                upperExclusive: ux,
                select: (a, b) => `${a.id}-${b.id}@${Math.max(a.ts, b.ts)}`,
              }),
            ),
          ),
        );
        const run = pipeline.open((el) => timed.push(el));
        run.pushAll(events);
        expect(run.stats()['intervalJoin#0']).toMatchObject({ lateRecords: 0 });
        run.end();
        let wm = Number.NEGATIVE_INFINITY;
        const rows: string[] = [];
        for (const el of timed) {
          if (el.kind === 'watermark') wm = el.watermark;
          else {
            expect(el.timestamp).toBeGreaterThan(wm);
            rows.push(el.value);
          }
        }
        expect(rows.sort()).toEqual(batchJoin(events, lower, upper, lx, ux));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), bounds, fc.nat(), (events, { lower, upper }, cut) => {
        const pipeline = joinPipeline(lower, upper);
        const whole: string[] = [];
        const all = pipeline.open((r) => whole.push(r));
        all.pushAll(events);
        all.end();
        const at = events.length === 0 ? 0 : cut % (events.length + 1);
        const parts: string[] = [];
        const first = pipeline.open((r) => parts.push(r));
        first.pushAll(events.slice(0, at));
        const saved = JSON.parse(JSON.stringify(first.snapshot())) as PipelineSnapshot;
        first.unsubscribe();
        const second = pipeline.open((r) => parts.push(r), { restore: saved });
        second.pushAll(events.slice(at));
        second.end();
        expect(parts).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('purges each side once the combined watermark makes a match impossible', () => {
    const right = new Subject<Timed<string>>();
    const run = createPipeline((l$: Observable<Timed<string>>) =>
      l$.pipe(intervalJoin(right, { leftKey: () => 1, rightKey: () => 1, lower: -5, upper: 10 }), records()),
    ).open(() => {});
    const stats = () => run.stats()['intervalJoin#0'];
    run.push(timedRecord('a', 100)); // kept until watermark 110
    right.next(timedRecord('b', 100)); // kept until watermark 105
    expect(stats()).toMatchObject({ leftRecords: 1, rightRecords: 1, joined: 1 });
    run.push(watermark(200)); // left at 200, right at -Infinity: nothing purged
    expect(stats()).toMatchObject({ leftRecords: 1, rightRecords: 1, watermark: Number.NEGATIVE_INFINITY });
    right.next(watermark(105));
    expect(stats()).toMatchObject({ leftRecords: 1, rightRecords: 0, watermark: 105 });
    right.next(watermark(110));
    expect(stats()).toMatchObject({ leftRecords: 0, rightRecords: 0, purgedRecords: 2 });
    right.next(timedRecord('late', 110));
    expect(stats()).toMatchObject({ lateRecords: 1 });
  });

  it('forwards the minimum of its inputs’ watermarks, never going back, and +Infinity once both complete', () => {
    const step = fc.record({ left: fc.boolean(), wm: fc.integer({ min: 0, max: 100 }), end: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const left = new Subject<Timed<number>>();
        const right = new Subject<Timed<number>>();
        const seen: number[] = [];
        let completed = false;
        left.pipe(intervalJoin(right, { leftKey: () => 0, rightKey: () => 0, lower: 0, upper: 1 })).subscribe({
          next: (el) => {
            if (el.kind === 'watermark') seen.push(el.watermark);
          },
          complete: () => (completed = true),
        });
        const model = { left: Number.NEGATIVE_INFINITY, right: Number.NEGATIVE_INFINITY };
        const expected: number[] = [];
        let current = Number.NEGATIVE_INFINITY;
        const done = { left: false, right: false };
        for (const s of steps) {
          const side = s.left ? 'left' : 'right';
          if (done[side]) continue;
          if (s.end) {
            done[side] = true;
            model[side] = Number.POSITIVE_INFINITY;
            (s.left ? left : right).complete();
          } else {
            model[side] = Math.max(model[side], s.wm);
            (s.left ? left : right).next(watermark(s.wm));
          }
          const combined = Math.min(model.left, model.right);
          if (combined > current) expected.push((current = combined));
        }
        expect(seen).toEqual(expected);
        expect(completed).toBe(done.left && done.right);
      }),
      { numRuns: 300 },
    );
  });

  it('lets an idle input stop holding the watermark back, and holds it again when the input returns', () => {
    const late: number[] = [];
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const left = cold<Timed<number>>('a b 19ms c|', {
        a: timedRecord(1, 10),
        b: watermark(50),
        c: timedRecord(3, 60),
      });
      const right = cold<Timed<number>>('x 30ms y|', { x: watermark(5), y: timedRecord(2, 40) });
      const out = left.pipe(
        intervalJoin(right.pipe(map((e) => e)), {
          leftKey: () => 0,
          rightKey: () => 0,
          lower: -100,
          upper: 100,
          idleTimeout: 8,
          late: (v) => late.push(v),
          select: (a, b) => a * 10 + b,
        }),
      );
      // Both inputs are silent after 1 ms: idle around 8–10 ms, the watermark is the higher one (50).
      // The left's record at 60 wakes it; its completion (+Infinity) with the right idle releases everything.
      // The right's record at 40 (31 ms) is then late.
      expectObservable(out.pipe(map((el) => (el.kind === 'record' ? `r${el.value}` : `w${el.watermark}`)))).toBe(
        '-a 8ms b 11ms c 9ms |',
        { a: 'w5', b: 'w50', c: 'wInfinity' } as Record<string, string>,
      );
    });
    expect(late).toEqual([2]);
  });

  it('refuses bad options at creation, each saying how to fix it', () => {
    const right$ = NEVER;
    const k = { leftKey: () => 1, rightKey: () => 1 };
    expect(() => intervalJoin(right$, { lower: 0, upper: 1 } as never)).toThrow(/needs a key on each side: pass leftKey and rightKey/);
    expect(() => intervalJoin(right$, { ...k, lower: 5, upper: 1 })).toThrow(/must be <= upper.*swap/);
    expect(() => intervalJoin(right$, { ...k, lower: 0, upper: Number.NaN })).toThrow(InvalidOptionError);
    expect(() => intervalJoin([1, 2] as never, { ...k, lower: 0, upper: 1 })).toThrow(/expected the other input as a timed stream.*eventTime/);
    expect(() => intervalJoin(right$, { ...k, lower: 0, upper: 1, idleTimeout: 0 })).toThrow(/idleTimeout/);
    expect(() => intervalJoin(right$, { ...k, lower: 0, upper: 1, extra: 1 } as never)).toThrow(/unknown option/);
  });

  it('errors on an input that is not a timed stream, naming eventTime', () => {
    let error: unknown;
    from([{ id: 1 }])
      .pipe((s) => s as never, intervalJoin(NEVER, { leftKey: () => 1, rightKey: () => 1, lower: 0, upper: 1 }))
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(InvalidRecordError);
    expect(String((error as Error).message)).toMatch(/did you forget to put eventTime/);
  });
});
