import fc from 'fast-check';
import { NEVER, type Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  count,
  countWindow,
  countWindowBy,
  createPipeline,
  eventTime,
  intervalJoin,
  join,
  type PipelineSnapshot,
  processByKey,
  records,
  type Timed,
  timedRecord,
  tumbling,
  watermark,
  windowBy,
  windowJoin,
} from '../../src/index.js';
import { type Side, sidedEvents, twoSided } from './join-fixtures.js';

const BOUND = 10;

function batchJoin(events: Side[], ttl: number, outer: boolean): string[] {
  const out: string[] = [];
  for (const a of events) {
    if (a.side !== 'L') continue;
    let met = false;
    for (const b of events)
      if (b.side === 'R' && a.k === b.k && Math.abs(a.ts - b.ts) < ttl) {
        met = true;
        out.push(`${a.id}-${b.id}@${Math.max(a.ts, b.ts)}`);
      }
    if (outer && !met) out.push(`${a.id}-none@${a.ts + ttl}`);
  }
  return out.sort();
}

const pipelineOf = (ttl: number, outer: boolean) =>
  createPipeline(
    twoSided<Timed<string>>(BOUND, (left$, right$) =>
      outer
        ? left$.pipe(
            join(right$, {
              leftKey: (e: Side) => e.k,
              rightKey: (e: Side) => e.k,
              ttl,
              outer: 'left',
              select: (a, b) => `${a.id}-${b?.id ?? 'none'}@${b ? Math.max(a.ts, b.ts) : a.ts + ttl}`,
            }),
          )
        : left$.pipe(join(right$, { leftKey: (e: Side) => e.k, rightKey: (e: Side) => e.k, ttl, select: (a, b) => `${a.id}-${b.id}@${Math.max(a.ts, b.ts)}` })),
    ),
  );

describe('join (unwindowed, with a TTL)', () => {
  it('inner and left-outer: the batch answer for any arrival order within the bound, never behind the watermark', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), fc.integer({ min: 1, max: 60 }), fc.boolean(), (events, ttl, outer) => {
        const timed: Timed<string>[] = [];
        const run = pipelineOf(ttl, outer).open((el) => timed.push(el));
        run.pushAll(events);
        run.end();
        let wm = Number.NEGATIVE_INFINITY;
        const rows: string[] = [];
        for (const el of timed) {
          if (el.kind === 'watermark') wm = el.watermark;
          else {
            expect(el.timestamp).toBeGreaterThan(wm);
            expect(el.value.endsWith(`@${el.timestamp}`)).toBe(true);
            rows.push(el.value);
          }
        }
        expect(rows.sort()).toEqual(batchJoin(events, ttl, outer));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), fc.integer({ min: 1, max: 60 }), fc.boolean(), fc.nat(), (events, ttl, outer, cut) => {
        const p = pipelineOf(ttl, outer);
        const whole: unknown[] = [];
        const all = p.open((el) => whole.push(el));
        all.pushAll(events);
        all.end();
        const at = cut % (events.length + 1);
        const parts: unknown[] = [];
        const first = p.open((el) => parts.push(el));
        first.pushAll(events.slice(0, at));
        const saved = JSON.parse(JSON.stringify(first.snapshot())) as PipelineSnapshot;
        first.unsubscribe();
        const second = p.open((el) => parts.push(el), { restore: saved });
        second.pushAll(events.slice(at));
        second.end();
        expect(parts).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps state bounded on an endless stream of fresh keys (expiry counted in stats)', () => {
    const right = new Subject<Timed<{ k: number }>>();
    const run = createPipeline((l$: Observable<Timed<{ k: number }>>) =>
      l$.pipe(join(right, { leftKey: (e) => e.k, rightKey: (e) => e.k, ttl: 1_000 }), records()),
    ).open(() => {});
    let most = 0;
    for (let i = 0; i < 50_000; i++) {
      const ts = i * 10;
      run.push(timedRecord({ k: i }, ts));
      right.next(timedRecord({ k: -i }, ts));
      if (i % 10 === 0) {
        run.push(watermark(ts));
        right.next(watermark(ts));
      }
      const s = run.stats()['join#0'] as Record<string, number>;
      most = Math.max(most, (s.leftRecords as number) + (s.rightRecords as number));
    }
    expect(most).toBeLessThanOrEqual(2 * 112);
    expect((run.stats()['join#0'] as Record<string, number>).expiredRecords).toBeGreaterThan(99_000);
  });

  it('refuses bad options at creation, each saying how to fix it', () => {
    const k = { leftKey: () => 1, rightKey: () => 1 };
    expect(() => join(NEVER, { ttl: 10 } as never)).toThrow(/needs a key on each side/);
    expect(() => join(NEVER, { ...k } as never)).toThrow(/join.ttl: is required.*grow without bound/);
    expect(() => join(NEVER, { ...k, ttl: 0 })).toThrow(/join.ttl: must be a finite number > 0/);
    expect(() => join(NEVER, { ...k, ttl: -5 })).toThrow(/join.ttl: must be a finite number > 0/);
    expect(() => join(NEVER, { ...k, ttl: 5, outer: 'right' as never })).toThrow(/join.outer: expected 'left'/);
    expect(() => join({} as never, { ...k, ttl: 5 })).toThrow(/join\(right\$\): expected the other input as a timed stream/);
  });

  it('refuses a changelog input when the pipe is built: none of these operators can take a row back', () => {
    const changes$ = NEVER.pipe(
      eventTime({ timestamp: (e: { k: number; ts: number }) => e.ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e) => e.k, window: tumbling(10), aggregate: count(), changelog: true }),
    );
    const keys = { leftKey: (r: { key: number }) => r.key, rightKey: (r: { key: number }) => r.key };
    expect(() => changes$.pipe(join(NEVER, { ...keys, ttl: 5 }))).toThrow(/join\(left input\): is a changelog.*accumulating results/);
    expect(() => join(changes$, { ...keys, ttl: 5 })).toThrow(/join\(right\$\): is a changelog/);
    expect(() => changes$.pipe(intervalJoin(NEVER, { ...keys, lower: 0, upper: 1 }))).toThrow(/intervalJoin\(left input\): is a changelog/);
    expect(() => windowJoin(changes$, { ...keys, window: tumbling(10) })).toThrow(/windowJoin\(right\$\): is a changelog/);
    expect(() => changes$.pipe(countWindowBy({ key: (r) => r.key, window: countWindow(2), aggregate: count() }))).toThrow(/countWindowBy\(input\): is a changelog/);
    expect(() => changes$.pipe(processByKey({ key: (r) => r.key, ttl: 1, process: () => 1 }))).toThrow(/processByKey\(input\): is a changelog/);
  });
});
