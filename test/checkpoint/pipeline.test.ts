// Snapshot → restore → continue must equal the uninterrupted run.
import fc from 'fast-check';
import { concat, NEVER, type Observable, of, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  avg,
  count,
  createPipeline,
  eventTime,
  InvalidOptionError,
  mapRecords,
  type PipelineSnapshot,
  records,
  SnapshotError,
  session,
  sliding,
  sum,
  TidemarkError,
  tumbling,
  type WindowAssigner,
  type WindowResult,
  windowBy,
} from '../../src/index.js';
import { seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface E {
  k: string;
  ts: number;
  v: number;
}

type Out = string;

/** A pipeline exercising every stateful feature; late records and first-level panes go to `lateSink`. */
function makePipeline(window: WindowAssigner, bound: number, lateness: number, early: number | undefined) {
  return createPipeline((events$: Observable<E>) =>
    events$.pipe(
      eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: bound }),
      windowBy({
        key: (e: E) => e.k,
        window,
        aggregate: avg((e: E) => e.v),
        allowedLateness: lateness,
        late: (e) => lateSink?.(`late ${e.k}@${e.ts}`),
        ...(early ? { early: { count: early } } : {}),
      }),
      // every first-level pane is output too, so pane numbers and order count
      mapRecords((r: WindowResult<string, number>) => {
        lateSink?.(show(r));
        return r;
      }),
      // a second, chained window over the first one's results
      windowBy({ key: (r: WindowResult<string, number>) => r.key, window: tumbling(50), aggregate: sum((r: WindowResult<string, number>) => r.value) }),
      records(),
    ),
  );
}
let lateSink: ((line: Out) => void) | undefined;
const show = (r: WindowResult<string, number>) => `${r.key}[${r.start},${r.end})=${r.value.toFixed(6)} ${r.timing}#${r.pane}`;

describe('createPipeline snapshot/restore', () => {
  it('a run restored from a snapshot after event i emits exactly what the uninterrupted run emits after event i', () => {
    const windows = fc.oneof(
      fc.integer({ min: 1, max: 30 }).map((n) => tumbling(n) as WindowAssigner),
      fc.integer({ min: 2, max: 30 }).map((n) => sliding(n, Math.max(1, n >> 1)) as WindowAssigner),
      fc.integer({ min: 1, max: 10 }).map((n) => session(n) as WindowAssigner),
    );
    fc.assert(
      fc.property(
        windows,
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 15 }),
        fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        fc.integer(),
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (window, bound, lateness, early, seed, n, cutAt) => {
          const rand = seededRandom(seed);
          const events: E[] = Array.from({ length: n }, (_, i) => ({
            k: `k${Math.floor(rand() * 3)}`,
            ts: Math.floor(i * 2 + rand() * 10),
            // few keys and coarse timestamps: many windows end together
            v: Math.floor(rand() * 100),
          }));
          // Disorder up to three times the bound: some records are late.
          const arrival = shuffleWithin(events, (e) => e.ts, bound * 3 + 2, rand);
          const pipeline = makePipeline(window, bound, lateness, early);

          const full: { after: number; line: Out }[] = [];
          let pushed = 0;
          lateSink = (line) => full.push({ after: pushed, line });
          const whole = pipeline.open((r) => full.push({ after: pushed, line: show(r) }));
          for (const e of arrival) {
            pushed++;
            whole.push(e);
          }
          pushed++;
          whole.end();

          const cut = Math.floor(cutAt * arrival.length);
          lateSink = () => {};
          const first = pipeline.open(() => {});
          first.pushAll(arrival.slice(0, cut));
          // The snapshot survives JSON and structured clone (IndexedDB, the wire).
          const saved = structuredClone(JSON.parse(JSON.stringify(first.snapshot()))) as PipelineSnapshot;
          first.unsubscribe();

          const resumed: Out[] = [];
          lateSink = (line) => resumed.push(line);
          const second = pipeline.open((r) => resumed.push(show(r)), { restore: saved });
          second.pushAll(arrival.slice(cut));
          second.end();
          expect(resumed).toEqual(full.filter((x) => x.after > cut).map((x) => x.line));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('fires sessions that end together in creation order, across a restore', () => {
    const p = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: session(10), aggregate: count() }), records()),
    );
    const ev = (k: string, ts: number) => ({ k, ts, v: 0 });
    const first = p.open(() => {});
    first.pushAll([ev('a', 0), ev('a', 1), ev('a', 2)]); // each record makes a new, merged session
    const snap = first.snapshot();
    const out: string[] = [];
    const second = p.open((r) => out.push(`${r.key}[${r.start},${r.end})`), { restore: snap });
    second.push(ev('b', 2));
    second.end();
    expect(out).toEqual(['a[0,12)', 'b[2,12)']);
  });

  it('restores which windows changed since their last firing, for early.interval', () => {
    for (const win of [tumbling(1_000), session(1_000)] as WindowAssigner[]) {
      // Virtual time that stops at frame 15: one tick of the 10 ms interval.
      const clock = new VirtualTimeScheduler(VirtualAction, 15);
      const p = createPipeline((s: Observable<E>) =>
        s.pipe(
          eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 100 }),
          windowBy({ key: (e) => e.k, window: win, aggregate: count(), early: { interval: 10 }, scheduler: clock }),
          records(),
        ),
      );
      const first = p.open(() => {});
      first.pushAll([
        { k: 'x', ts: 1, v: 0 },
        { k: 'y', ts: 2, v: 0 },
      ]);
      const snap = first.snapshot(); // before the first tick
      first.unsubscribe();
      const out: string[] = [];
      const second = p.open((r) => out.push(`${r.key} ${r.timing}#${r.pane}`), { restore: snap });
      clock.flush(); // the restored run's tick: both keys changed before the snapshot
      expect(out).toEqual(['x early#0', 'y early#0']);
      second.unsubscribe();
    }
  });

  it('restores the eventTime state, the watermark and late counts', () => {
    const p = makePipeline(tumbling(10), 0, 0, undefined);
    lateSink = () => {};
    const run = p.open(() => {});
    run.pushAll([
      { k: 'a', ts: 5, v: 1 },
      { k: 'a', ts: 30, v: 1 },
      { k: 'a', ts: 1, v: 1 },
    ]);
    const snap = run.snapshot();
    expect(Object.keys(snap.operators)).toEqual(['windowBy#0', 'windowBy#1', 'eventTime#0']);
    expect(snap.operators['eventTime#0']).toEqual({ kind: 'eventTime', state: { maxTimestamp: 30, watermark: 29 } });
    expect(snap.operators['windowBy#1']?.state).toMatchObject({ watermark: 29, lateRecords: 1 });
    expect(run.stats()).toEqual({
      'windowBy#0': { kind: 'windowBy', watermark: 29, openWindows: 1, lateRecords: 0, invalidRecords: 0, allowedLateness: 0 },
      'windowBy#1': { kind: 'windowBy', watermark: 29, openWindows: 1, lateRecords: 1, invalidRecords: 0, allowedLateness: 0 },
      'eventTime#0': { kind: 'eventTime', watermark: 29, invalidRecords: 0 },
    });
  });

  it('takes snapshots that share nothing with live state (mutable accumulators included)', () => {
    const p = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 100 }), windowBy({ key: (e) => e.k, window: tumbling(1_000), aggregate: avg((e: E) => e.v) })),
    );
    const run = p.open(() => {});
    run.push({ k: 'a', ts: 1, v: 10 });
    const snap = run.snapshot();
    const copy = structuredClone(snap);
    run.push({ k: 'a', ts: 2, v: 20 });
    expect(snap).toEqual(copy);
  });

  it('refuses a snapshot from another pipeline, a corrupt one, or one with state this pipeline lacks', () => {
    const counting = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: tumbling(10), aggregate: count() }), records()),
    );
    const bare = createPipeline((s: Observable<E>) => s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), records()));
    const sessions = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: session(10), aggregate: count() }), records()),
    );
    const run = counting.open(() => {});
    run.push({ k: 'a', ts: 1, v: 0 });
    const snap = run.snapshot();
    const errors: unknown[] = [];
    expect(() => bare.open({ error: (e) => errors.push(e) }, { restore: snap })).toThrow(/holds state for windowBy#0, which this pipeline does not have/);
    expect(() => sessions.open(() => {}, { restore: snap })).toThrow(SnapshotError);
    expect(() => counting.open(() => {}, { restore: { format: 'nope' } as never })).toThrow(/not a Tidemark snapshot/);
    expect(() => counting.open(() => {}, { restore: { ...snap, version: 2 } as never })).toThrow(/version 2 is not supported/);
    const renamed = { ...snap, operators: { 'eventTime#0': snap.operators['windowBy#0'], 'windowBy#0': snap.operators['eventTime#0'] } } as PipelineSnapshot;
    expect(() => counting.open(() => {}, { restore: renamed })).toThrow(/was made by eventTime but this pipeline has windowBy/);
    const corrupt = JSON.parse(JSON.stringify(snap));
    corrupt.operators['windowBy#0'].state.windows[0].end = 999;
    expect(() => counting.open(() => {}, { restore: corrupt })).toThrow(/does not match this window size/);
    const shifted = JSON.parse(JSON.stringify(snap));
    shifted.operators['windowBy#0'].state.windows[0].start += 1;
    shifted.operators['windowBy#0'].state.windows[0].end += 1;
    expect(() => counting.open(() => {}, { restore: shifted })).toThrow(/does not match this window size and slide/);
    const corrupt2 = JSON.parse(JSON.stringify(snap));
    corrupt2.operators['eventTime#0'].state.watermark = 'soon';
    expect(() => counting.open(() => {}, { restore: corrupt2 })).toThrow(/eventTime\.watermark: expected a time/);
    // Errors thrown at start-up are thrown, not also delivered to the observer.
    expect(errors).toEqual([]);
  });

  it('matches operators by explicit id, whatever their order', () => {
    const build = (first: 'a' | 'b') =>
      createPipeline((s: Observable<E>) => {
        const ops = {
          a: windowBy({ id: 'by-key', key: (e: E) => e.k, window: tumbling(10), aggregate: count() }),
          b: windowBy({ id: 'by-value', key: (e: E) => String(e.v), window: tumbling(10), aggregate: count() }),
        };
        const timed = s.pipe(eventTime({ id: 'time', timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }));
        return first === 'a' ? timed.pipe(ops.a, records()) : timed.pipe(ops.b, records());
      });
    const run = build('a').open(() => {});
    run.push({ k: 'x', ts: 1, v: 5 });
    expect(Object.keys(run.snapshot().operators).sort()).toEqual(['by-key', 'time']);
    expect(() => build('b').open(() => {}, { restore: run.snapshot() })).toThrow(/by-key/);
  });

  it('runs over any ObservableInput with run(), restored the same way', () => {
    const p = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: tumbling(10), aggregate: count() }), records()),
    );
    // A source that stays open: a completed run's state has its watermark at +Infinity.
    const first = p.run(concat(of({ k: 'a', ts: 1, v: 0 }), NEVER), () => {});
    const snap = first.snapshot();
    first.unsubscribe();
    const out: number[] = [];
    let done = false;
    const second = p.run([{ k: 'a', ts: 2, v: 0 }], { next: (r) => out.push(r.value), complete: () => (done = true) }, { restore: snap });
    expect(out).toEqual([2]);
    expect(done).toBe(true);
    expect(second.closed).toBe(true);
  });

  it('refuses snapshot() from inside the pipeline, and pushes after end', () => {
    const p = createPipeline((s: Observable<E>) =>
      s.pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: tumbling(10), aggregate: count() }), records()),
    );
    let inner: unknown;
    const run = p.open(() => {
      try {
        run.snapshot();
      } catch (e) {
        inner = e;
      }
    });
    run.push({ k: 'a', ts: 1, v: 0 });
    run.push({ k: 'a', ts: 11, v: 0 });
    expect(inner).toBeInstanceOf(TidemarkError);
    expect((inner as Error).message).toMatch(/call it between events/);
    run.end();
    expect(run.closed).toBe(true);
    expect(() => run.push({ k: 'a', ts: 1, v: 0 })).toThrow(/push\(\) after the pipeline ended/);
    expect(() => createPipeline('nope' as never)).toThrow(InvalidOptionError);
    expect(() => createPipeline(() => 42 as never).open(() => {})).toThrow(/must return an Observable/);
  });
});
