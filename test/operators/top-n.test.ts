// topN: the best results of each window; batch equivalence, ties, lateness, fusion, snapshots.
import fc from 'fast-check';
import { from, map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  count,
  createPipeline,
  eventTime,
  InvalidOptionError,
  type PipelineSnapshot,
  records,
  sliding,
  type Timed,
  timedRecord,
  topN,
  tumbling,
  type WindowAssigner,
  type WindowResult,
  watermark,
  windowBy,
} from '../../src/index.js';
import { batchWindows, runSync, seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface E {
  k: number;
  ts: number;
}

const show = (r: WindowResult<number | string, number>) => `[${r.start},${r.end}) ${r.key}=${r.value}`;

/** The plain answer: per window, results sorted by value desc then key asc, the first n (and their ties). */
function batchTop(events: E[], window: WindowAssigner, n: number, ties: boolean): string[] {
  const rows = batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.k, window, aggregate: count() });
  const byWindow = new Map<string, typeof rows>();
  for (const r of rows) {
    const id = `${r.end}:${r.start}`;
    byWindow.set(id, [...(byWindow.get(id) ?? []), r]);
  }
  const out: string[] = [];
  const windows = [...byWindow.values()].sort((a, b) => (a[0]?.end ?? 0) - (b[0]?.end ?? 0));
  for (const rs of windows) {
    rs.sort((a, b) => b.value - a.value || a.key - b.key);
    const cut = rs[n - 1]?.value;
    rs.forEach((r, i) => {
      if (i < n || (ties && r.value === cut)) out.push(show({ ...r, timing: 'on-time', pane: 0 }));
    });
  }
  return out;
}

function streamTop(arrival: E[], window: WindowAssigner, bound: number, n: number, ties: boolean, unfused = false): string[] {
  return runSync(arrival, (s) => {
    const windowed = s.pipe(eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: bound }), windowBy({ key: (e: E) => e.k, window, aggregate: count() }));
    const input = unfused ? windowed.pipe(map((x) => x)) : windowed;
    return input.pipe(topN({ n, by: (r) => r.value, ties }), records());
  }).map(show);
}

describe('topN', () => {
  it('keeps the result with the most records per window, and every one tied with it', () => {
    const events = [1, 1, 2, 3, 3, 4, 12, 13, 13].map((k, i) => ({ k, ts: i < 6 ? i : 10 + i }));
    expect(streamTop(events, tumbling(10), 0, 1, true)).toEqual(['[0,10) 1=2', '[0,10) 3=2', '[10,20) 13=2']);
    expect(streamTop(events, tumbling(10), 0, 1, false)).toEqual(['[0,10) 1=2', '[10,20) 13=2']);
    expect(streamTop(events, tumbling(10), 0, 2, false)).toEqual(['[0,10) 1=2', '[0,10) 3=2', '[10,20) 13=2', '[10,20) 12=1']);
    expect(streamTop(events, tumbling(10), 0, 3, true)).toEqual(['[0,10) 1=2', '[0,10) 3=2', '[0,10) 2=1', '[0,10) 4=1', '[10,20) 13=2', '[10,20) 12=1']);
  });

  it('equals the batch ranking for any disorder within the bound, fused or not', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 30 }).map((s) => tumbling(s) as WindowAssigner),
          fc.integer({ min: 2, max: 30 }).chain((s) => fc.integer({ min: 1, max: s }).map((d) => sliding(s, d) as WindowAssigner)),
        ),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.integer(),
        fc.array(fc.integer({ min: -20, max: 120 }), { maxLength: 80 }),
        (window, bound, n, ties, seed, stamps) => {
          const rand = seededRandom(seed);
          const events = stamps.sort((a, b) => a - b).map((ts) => ({ k: Math.floor(rand() * 6), ts }));
          const arrival = shuffleWithin(events, (e) => e.ts, bound, rand);
          const expected = batchTop(events, window, n, ties);
          const fused = streamTop(arrival, window, bound, n, ties);
          // Windows fire in end order: compare as sets of lines, and the order within each window exactly.
          expect([...fused].sort()).toEqual([...expected].sort());
          const perWindow = (lines: string[]) => lines.reduce<Record<string, string[]>>((acc, l) => {
            const w = l.slice(0, l.indexOf(')') + 1);
            (acc[w] ??= []).push(l);
            return acc;
          }, {});
          expect(perWindow(fused)).toEqual(perWindow(expected));
          expect(streamTop(arrival, window, bound, n, ties, true)).toEqual(fused);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ranks numbers before strings and breaks ties by key, whatever the arrival order', () => {
    const r = (key: number | string, value: number): Timed<WindowResult<number | string, number>> =>
      timedRecord({ key, start: 0, end: 10, value, timing: 'on-time', pane: 0 }, 9);
    const run = (input: Timed<WindowResult<number | string, number>>[]) =>
      runSync(input, (s) => s.pipe(topN({ n: 3, by: (x) => x.value }), records())).map((x) => x.key);
    const end = watermark(Number.POSITIVE_INFINITY);
    expect(run([r('b', 1), r(2, 1), r('a', 1), r(1, 1), end])).toEqual([1, 2, 'a']);
    expect(run([r(1, 1), r('a', 1), r(2, 1), r('b', 5), end])).toEqual(['b', 1, 2]);
  });

  it('emits each window with its results timestamp before the watermark that closes it, so it can be windowed again', () => {
    const out: string[] = [];
    from([{ k: 1, ts: 1 }, { k: 2, ts: 15 }])
      .pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: count() }),
        topN({ n: 1, by: (r) => r.value }),
      )
      .subscribe((el) => out.push(el.kind === 'record' ? `r:${el.value.key}@${el.timestamp}` : `w:${el.watermark}`));
    expect(out).toEqual(['w:0', 'r:1@9', 'w:14', 'r:2@19', 'w:Infinity']);
  });

  it('sends results that arrive after their window was ranked to `late`', () => {
    const late: string[] = [];
    const res = (start: number, key: number) => timedRecord({ key, start, end: start + 10, value: 1, timing: 'on-time' as const, pane: 0 }, start + 9);
    const out = runSync([res(0, 1), watermark(9), res(0, 2), res(10, 3), watermark(Number.POSITIVE_INFINITY)], (s) =>
      s.pipe(topN({ n: 5, by: (r) => r.value, late: (r) => late.push(`${r.start}:${r.key}`) }), records()),
    ).map((r) => `${r.start}:${r.key}`);
    expect(out).toEqual(['0:1', '10:3']);
    expect(late).toEqual(['0:2']);
  });

  it('validates its options when called', () => {
    expect(() => topN({ n: 0, by: () => 1 })).toThrow(InvalidOptionError);
    expect(() => topN({ n: 1.5, by: () => 1 })).toThrow(/topN.n/);
    expect(() => topN({ n: 1 } as never)).toThrow(/topN.by/);
    expect(() => topN({ n: 1, by: () => 1, tie: true } as never)).toThrow(/unknown option/);
    expect(() => topN({ n: 1, by: () => 1, ties: 'yes' } as never)).toThrow(/topN.ties/);
  });

  it('errors on records that are not window results', () => {
    let error: unknown;
    from([timedRecord(42, 1)] as Timed<never>[])
      .pipe(topN({ n: 1, by: () => 1 }))
      .subscribe({ error: (e) => (error = e) });
    expect(String(error)).toMatch(/put it after windowBy/);
  });

  it('a run restored from a snapshot after event i emits what the uninterrupted run emits after event i', () => {
    const pipeline = createPipeline((events$: Observable<E>) =>
      events$.pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 5 }),
        windowBy({ key: (e: E) => e.k, window: sliding(20, 5), aggregate: count() }),
        topN({ n: 2, by: (r) => r.value, ties: true }),
        records(),
      ),
    );
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 120 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, n, cutAt) => {
        const rand = seededRandom(seed);
        const events = Array.from({ length: n }, (_, i) => ({ k: Math.floor(rand() * 5), ts: i + Math.floor(rand() * 3) }));
        const arrival = shuffleWithin(events, (e) => e.ts, 15, rand); // beyond the bound: some are late
        const full: { after: number; line: string }[] = [];
        let pushed = 0;
        const whole = pipeline.open((r) => full.push({ after: pushed, line: show(r) }));
        for (const e of arrival) {
          pushed++;
          whole.push(e);
        }
        pushed++;
        whole.end();
        const cut = Math.floor(cutAt * arrival.length);
        const first = pipeline.open(() => {});
        first.pushAll(arrival.slice(0, cut));
        const saved = structuredClone(JSON.parse(JSON.stringify(first.snapshot()))) as PipelineSnapshot;
        first.unsubscribe();
        const resumed: string[] = [];
        const second = pipeline.open((r) => resumed.push(show(r)), { restore: saved });
        second.pushAll(arrival.slice(cut));
        second.end();
        expect(resumed).toEqual(full.filter((x) => x.after > cut).map((x) => x.line));
      }),
      { numRuns: 200 },
    );
  });
});
