import fc from 'fast-check';
import { from, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  count,
  createPipeline,
  eventTime,
  InvalidRecordError,
  records,
  tumbling,
  watermarks,
  windowBy,
} from '../../src/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { WatermarkMultiplexer } from '../../src/time/watermark-multiplexer.js';

type Ev = { src: string; ts: number };
const ts = (e: Ev) => e.ts;
const src = (e: Ev) => e.src;

describe('WatermarkMultiplexer', () => {
  it('is the minimum over active sources, ignores idle ones, and is the maximum when all are idle', () => {
    const m = new WatermarkMultiplexer();
    expect(m.update('a', 10)).toBe(true);
    expect(m.current).toBe(10);
    expect(m.update('b', 5)).toBe(false); // lower than what was emitted: never goes back
    expect(m.current).toBe(10);
    expect(m.update('b', 20)).toBe(false); // a at 10 still holds it
    expect(m.update('a', 30)).toBe(true);
    expect(m.current).toBe(20);
    expect(m.markIdle('b')).toBe(true); // only a (30) is active
    expect(m.current).toBe(30);
    expect(m.update('b', 25)).toBe(false); // b is back, behind: holds further progress
    expect(m.update('a', 40)).toBe(false);
    expect(m.current).toBe(30);
    expect(m.update('b', 35)).toBe(true);
    expect(m.current).toBe(35);
    m.markIdle('a');
    m.markIdle('b');
    expect(m.current).toBe(40); // all idle: the highest
    expect(m.followIdle(50)).toBe(true);
    expect(m.update('a', 45)).toBe(false);
    expect(m.current).toBe(50);
  });

  it('agrees with a plain recomputation on any sequence of updates and idleness', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), s: fc.integer({ min: 0, max: 4 }), wm: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ kind: fc.constant('idle' as const), s: fc.integer({ min: 0, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const m = new WatermarkMultiplexer();
        const model = new Map<string, { wm: number; idle: boolean }>();
        let out = Number.NEGATIVE_INFINITY;
        for (const o of ops) {
          const id = `s${o.s}`;
          if (o.kind === 'update') {
            const cur = model.get(id);
            model.set(id, { wm: Math.max(cur?.wm ?? o.wm, o.wm), idle: false });
            m.update(id, o.wm);
          } else {
            const cur = model.get(id);
            if (cur) cur.idle = true;
            m.markIdle(id);
          }
          const all = [...model.values()];
          const active = all.filter((x) => !x.idle);
          const combined = active.length
            ? Math.min(...active.map((x) => x.wm))
            : all.length
              ? Math.max(...all.map((x) => x.wm))
              : Number.NEGATIVE_INFINITY;
          out = Math.max(out, combined);
          expect(m.current).toBe(out);
          expect(m.activeCount).toBe(active.length);
        }
        const copy = new WatermarkMultiplexer();
        copy.restore(JSON.parse(JSON.stringify(m.snapshot())), 'test');
        expect(copy.snapshot()).toEqual(m.snapshot());
      }),
    );
  });
});

describe('eventTime({ source })', () => {
  it('holds the watermark at the slowest active source', () => {
    const out: number[] = [];
    const events: Ev[] = [
      { src: 'a', ts: 100 },
      { src: 'b', ts: 50 },
      { src: 'a', ts: 200 },
      { src: 'b', ts: 150 },
    ];
    from(events)
      .pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0, source: src }), watermarks())
      .subscribe((w) => out.push(w));
    // one source alone would give 99, 199; b holds it at its own
    expect(out).toEqual([99, 149, Number.POSITIVE_INFINITY]);
  });

  it('lets an idle source stop holding the watermark, and follows the clock when all are idle', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      // a keeps sending; b sends once at t=0 and goes silent
      const input = cold<Ev>('a b 9ms c 9ms d 100ms |', {
        a: { src: 'a', ts: 1_000 },
        b: { src: 'b', ts: 10 },
        c: { src: 'a', ts: 2_000 },
        d: { src: 'a', ts: 3_000 },
      });
      const wm = input.pipe(
        eventTime({ timestamp: ts, maxOutOfOrderness: 0, source: src, idleTimeout: 8 }),
        watermarks(),
      );
      // 999 at 0; b (9) cannot pull it back. Around t=10, b is idle (8ms after its record,
      // within 1.25 timeouts) and c moves it to 1999; d to 2999; then a goes idle too and
      // the watermark follows the clock (TestScheduler time, far behind: no change), then +inf.
      expectObservable(wm).toBe('a 10ms c 9ms d 100ms (i|)', { a: 999, c: 1999, d: 2999, i: Infinity } as Record<string, number>);
    });
  });

  it('refuses a source that is not a string or number, precisely', () => {
    const errors: unknown[] = [];
    const bad = [{ src: { x: 1 }, ts: 1 }] as unknown as Ev[];
    from(bad)
      .pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0, source: src as (e: Ev) => string, invalid: (e) => errors.push(e) }))
      .subscribe();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvalidRecordError);
    expect(String((errors[0] as Error).message)).toMatch(/source\(event\) returned an object/);
  });
});

describe('RunOptions.perSource', () => {
  const pipeline = createPipeline((events$: import('rxjs').Observable<{ ts: number }>) =>
    events$.pipe(
      eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
      windowBy({ key: () => 'all', window: tumbling(10), aggregate: count() }),
      records(),
    ),
  );

  it('keeps one watermark per pushed source, idles by the host clock, and survives snapshot/restore', async () => {
    const T = 100_000;
    const clock = virtualClock(T);
    const fired: string[] = [];
    const label = (r: { start: number; value: number }) => fired.push(`${r.start - T}:${r.value}`);
    const run = pipeline.open(label, { perSource: { idleTimeout: 1_000, clock } });
    run.push({ ts: T + 1 }, 'phone');
    run.push({ ts: T + 25 }, 'laptop'); // the phone (at +1) holds [+0,+10) open
    expect(fired).toEqual([]);
    const saved = run.snapshot();
    run.unsubscribe();

    const again = pipeline.open(label, { restore: saved, perSource: { idleTimeout: 1_000, clock } });
    expect(again.stats()['eventTime#0']).toMatchObject({ sources: 2, activeSources: 2 });
    await clock.advance(600);
    again.push({ ts: T + 600 }, 'laptop');
    expect(fired).toEqual([]); // the phone still holds it
    await clock.advance(700); // the phone has been silent for more than a timeout: idle; the laptop is not
    expect(again.stats()['eventTime#0']).toMatchObject({ activeSources: 1, idleSources: 1, watermark: T + 599 });
    expect(fired).toEqual(['0:1', '20:1']);
    await clock.advance(1_300); // the laptop too: all idle, the watermark follows the clock
    expect(again.stats()['eventTime#0']).toMatchObject({ activeSources: 0, watermark: T + 2_499 }); // the last tick, at +2500
    expect(fired).toEqual(['0:1', '20:1', '600:1']);
    again.push({ ts: T + 5 }, 'phone'); // back, far behind: late, and active again
    expect(again.stats()['eventTime#0']).toMatchObject({ activeSources: 1 });
    expect(again.stats()['windowBy#0']).toMatchObject({ lateRecords: 1 });
  });

  it('refuses a snapshot taken with one watermark for all events', () => {
    const run = pipeline.open(() => undefined);
    run.push({ ts: 1 });
    const saved = run.snapshot();
    expect(() => pipeline.open(() => undefined, { restore: saved, perSource: {} })).toThrow(/keeps one watermark for all events/);
  });

  it('equals a per-source eventTime over the same events in any order within each source', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ src: fc.constantFrom('a', 'b', 'c'), ts: fc.integer({ min: 0, max: 200 }) }), { maxLength: 40 }),
        (events) => {
          const viaHost: string[] = [];
          const run = pipeline.open((r) => viaHost.push(`${r.start}:${r.value}:${r.timing}`), { perSource: {} });
          for (const e of events) run.push({ ts: e.ts }, e.src);
          run.end();
          const viaOption: string[] = [];
          from(events)
            .pipe(
              eventTime({ timestamp: ts, maxOutOfOrderness: 0, source: src }),
              windowBy({ key: () => 'all', window: tumbling(10), aggregate: count() }),
              records(),
            )
            .subscribe((r) => viaOption.push(`${r.start}:${r.value}:${r.timing}`));
          expect(viaHost).toEqual(viaOption);
        },
      ),
    );
  });
});

it('a Subject source works with sources (smoke)', () => {
  const s = new Subject<Ev>();
  const out: number[] = [];
  s.pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0, source: src }), watermarks()).subscribe((w) => out.push(w));
  s.next({ src: 'x', ts: 5 });
  s.complete();
  expect(out).toEqual([4, Number.POSITIVE_INFINITY]);
});
