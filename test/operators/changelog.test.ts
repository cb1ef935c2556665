// windowBy({ changelog: true }) and the operators that consume a changelog.
import fc from 'fast-check';
import { type Observable, of, Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  type Aggregate,
  aggregate,
  avg,
  count,
  createPipeline,
  eventTime,
  filterRecords,
  InvalidOptionError,
  InvalidRecordError,
  isDeletion,
  isRetraction,
  mapRecords,
  max,
  maxBy,
  min,
  type PipelineSnapshot,
  records,
  session,
  sliding,
  sum,
  topN,
  tumbling,
  type WindowAssigner,
  type WindowChange,
  type WindowResult,
  windowBy,
} from '../../src/index.js';
import { batchWindows, latestPanes, runSync, seededRandom, shuffleWithin } from '../../src/testing/index.js';
import { LatestPanes } from '../../src/windows/latest-panes.js';

interface E {
  k: number;
  ts: number;
  v: number;
}

type Row = WindowResult<number, number>;

const noLate = () => {
  throw new Error('no record may be late when disorder stays within the bound');
};

/** A row's event timestamp downstream: its window's last timestamp. */
const stampOf = (w: WindowAssigner) => (r: Row) => (w.kind === 'session' ? r.end : r.end - 1);

const secondAggregates = {
  count: () => count() as Aggregate<Row, unknown, number>,
  sum: () => sum((r: Row) => r.value) as Aggregate<Row, unknown, number>,
  avg: () => avg((r: Row) => r.value) as Aggregate<Row, unknown, number>,
  min: () => min((r: Row) => r.value, { retract: true }) as Aggregate<Row, unknown, number>,
  max: () => max((r: Row) => r.value, { retract: true }) as Aggregate<Row, unknown, number>,
};

const firstWindows = fc.oneof(
  fc.record({ size: fc.integer({ min: 1, max: 20 }), offset: fc.integer({ min: -9, max: 9 }) }).map(({ size, offset }) => tumbling(size, offset)),
  fc
    .record({ size: fc.integer({ min: 2, max: 20 }), div: fc.integer({ min: 1, max: 4 }) })
    .map(({ size, div }) => sliding(size, Math.max(1, Math.floor(size / div)))),
  fc.integer({ min: 1, max: 8 }).map((gap) => session(gap)),
) as fc.Arbitrary<WindowAssigner>;

const secondWindows = fc.oneof(
  fc.integer({ min: 1, max: 60 }).map((size) => tumbling(size)),
  fc.integer({ min: 2, max: 60 }).map((size) => sliding(size, Math.max(1, size >> 1))),
) as fc.Arbitrary<WindowAssigner>;

const chain = fc.record({
  w1: firstWindows,
  w2: secondWindows,
  bound: fc.integer({ min: 0, max: 12 }),
  seed: fc.integer(),
  keys: fc.integer({ min: 1, max: 4 }),
  stamps: fc.array(fc.integer({ min: -10, max: 90 }), { maxLength: 50 }),
  early1: fc.integer({ min: 1, max: 3 }),
  early2: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  lateness1: fc.integer({ min: 0, max: 10 }),
  lateness2: fc.integer({ min: 0, max: 10 }),
});
type Chain = typeof chain extends fc.Arbitrary<infer S> ? S : never;

function arrivals({ seed, keys, stamps, bound }: Pick<Chain, 'seed' | 'keys' | 'stamps' | 'bound'>) {
  const rand = seededRandom(seed);
  const events: E[] = [...stamps].sort((a, b) => a - b).map((ts, i) => ({ k: Math.floor(rand() * keys), ts, v: (i * 7919) % 101 }));
  const edgy = () => {
    const r = rand();
    return r < 0.35 ? 0 : r < 0.7 ? 0.999999 : rand();
  };
  return { events, arrival: shuffleWithin(events, (e) => e.ts, bound, edgy) };
}

/** Stage 1: sum of `v` per key with early panes, as a changelog. */
const stage1 = (s: Chain) =>
  windowBy({
    key: (e: E) => e.k,
    window: s.w1,
    aggregate: sum((e: E) => e.v),
    early: { count: s.early1 },
    allowedLateness: s.lateness1,
    late: noLate,
    changelog: true,
  });

/** The chained query computed in batch: stage 1 over all events, then stage 2 over its rows. */
function chainedBatch(events: E[], s: Chain, agg2: () => Aggregate<Row, unknown, number>) {
  const rows = batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.k, window: s.w1, aggregate: sum((e: E) => e.v) });
  return batchWindows(rows as Row[], { timestamp: stampOf(s.w1), key: (r) => r.key % 2, window: s.w2, aggregate: agg2() });
}

function checkChain(agg2: () => Aggregate<Row, unknown, number>, s: Chain, changelog2: boolean) {
  const { events, arrival } = arrivals(s);
  const out = runSync(arrival, (src) =>
    src.pipe(
      eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: s.bound }),
      stage1(s),
      windowBy({
        key: (r: WindowChange<number, number>) => r.key % 2,
        window: s.w2,
        aggregate: agg2(),
        allowedLateness: s.lateness2,
        late: noLate,
        changelog: changelog2,
        ...(s.early2 ? { early: { count: s.early2 } } : {}),
      }),
      records(),
    ),
  );
  const expected = chainedBatch(events, s, agg2);
  if (changelog2) {
    // The view of the changelog ends with exactly the batch rows.
    expect(latestPanes(out)).toEqual(expected);
  } else {
    // Accumulating output: its on-time panes are the batch rows (a window
    // retracted to nothing does not fire; an early pane of one may remain).
    const onTime = out.filter((r) => r.timing === 'on-time');
    expect(latestPanes(onTime)).toEqual(expected);
  }
}

describe('changelog: chained windows equal the batch computation (fast-check)', () => {
  for (const [name, make] of Object.entries(secondAggregates)) {
    it(`${name} over a changelog with early firings, any order within the bound, changelog output`, () => {
      fc.assert(
        fc.property(chain, (s) => checkChain(make, s, true)),
        { numRuns: 150 },
      );
    });
  }

  it('sum over a changelog, accumulating output: its on-time panes are the batch answer', () => {
    fc.assert(
      fc.property(chain, (s) => checkChain(secondAggregates.sum, s, false)),
      { numRuns: 200 },
    );
  });

  it('without the changelog, the same chain counts early panes again (the reason for it)', () => {
    const events = [
      { k: 0, ts: 1, v: 5 },
      { k: 0, ts: 2, v: 7 },
    ];
    const run = (changelog: boolean) =>
      runSync(events, (src) =>
        src.pipe(
          eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
          windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: sum((e: E) => e.v), early: { count: 1 }, changelog }),
          windowBy({ key: () => 'all', window: tumbling(100), aggregate: sum((r: Row) => r.value) }),
          records(),
        ),
      ).map((r) => r.value);
    expect(run(false)).toEqual([5 + 12 + 12]); // early 5, early 12, on-time 12
    expect(run(true)).toEqual([12]);
  });
});

describe('changelog: late panes (fast-check)', () => {
  it('with records later than the bound, the chain equals the batch computation over the records stage 1 accepted', () => {
    // Tumbling windows upstream: a record is accepted into its one window or not
    // at all. Downstream lateness covers upstream's, so no retraction is late there.
    const late = chain.map((s) => ({
      ...s,
      w1: tumbling(1 + (Math.abs(s.seed) % 12)) as WindowAssigner,
      lateness2: s.lateness1 + (s.lateness2 % 3),
    }));
    fc.assert(
      fc.property(late, (s) => {
        const rand = seededRandom(s.seed);
        const events: E[] = [...s.stamps].sort((a, b) => a - b).map((ts, i) => ({ k: Math.floor(rand() * s.keys), ts, v: (i * 7919) % 101 }));
        const arrival = shuffleWithin(events, (e) => e.ts, s.bound * 3 + 2, rand);
        const dropped = new Set<E>();
        const out = runSync(arrival, (src) =>
          src.pipe(
            eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: s.bound }),
            windowBy({
              key: (e: E) => e.k,
              window: s.w1,
              aggregate: sum((e: E) => e.v),
              early: { count: s.early1 },
              allowedLateness: s.lateness1,
              late: (e) => dropped.add(e),
              changelog: true,
            }),
            windowBy({
              key: (r) => r.key % 2,
              window: s.w2,
              aggregate: sum((r: Row) => r.value),
              allowedLateness: s.lateness2,
              late: noLate,
              changelog: true,
              ...(s.early2 ? { early: { count: s.early2 } } : {}),
            }),
            records(),
          ),
        );
        const accepted = events.filter((e) => !dropped.has(e));
        expect(latestPanes(out)).toEqual(chainedBatch(accepted, s, secondAggregates.sum));
      }),
      { numRuns: 300 },
    );
  });
});

describe('changelog: sessions with early firings (fast-check)', () => {
  const sessions = chain.map((s) => ({ ...s, w1: session(1 + (Math.abs(s.seed) % 6)) as WindowAssigner }));

  it('the view ends with the batch sessions and never shows a span a merge superseded', () => {
    fc.assert(
      fc.property(sessions, (s) => {
        const { events, arrival } = arrivals(s);
        const out = runSync(arrival, (src) =>
          src.pipe(eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: s.bound }), stage1(s), records()),
        );
        const view = new LatestPanes(Number.POSITIVE_INFINITY);
        const deleted = new Set<string>();
        for (const r of out) {
          view.add(r);
          // Between batches of results (never between an update-before and its update-after, emitted together).
          if ((r as WindowChange<number, number>).kind === 'update-before') continue;
          for (const d of view.takeDeleted()) deleted.add(`${d.key}:${d.start}:${d.end}`);
          // Live sessions of a key never intersect (touching ones merge): a superseded span would.
          const rows = view.entries().sort((a, b) => Number(a.key) - Number(b.key) || a.start - b.start);
          for (let i = 1; i < rows.length; i++) {
            const [a, b] = [rows[i - 1] as Row, rows[i] as Row];
            if (a.key === b.key) expect(a.end).toBeLessThan(b.start);
          }
        }
        const expected = batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.k, window: s.w1, aggregate: sum((e: E) => e.v) });
        expect(latestPanes(out)).toEqual(expected);
        // Every span the view was told to delete is gone for good.
        for (const w of expected) expect(deleted.has(`${w.key}:${w.start}:${w.end}`)).toBe(false);
        // Each record is well formed: a retraction carries the row last shown
        // for its window, and an update-before is followed by its update-after.
        const shown = new Map<string, WindowChange<number, number>>();
        const row = (r: WindowChange<number, number> | undefined) => r && { ...r, kind: undefined };
        let before: string | undefined;
        for (const r of out as WindowChange<number, number>[]) {
          const id = `${r.key}:${r.start}:${r.end}`;
          if (r.kind === 'update-after') {
            expect(before).toBe(id);
            before = undefined;
            shown.set(id, r);
            continue;
          }
          expect(before).toBeUndefined();
          if (isRetraction(r)) {
            expect(row(shown.get(id))).toEqual(row(r));
            if (r.kind === 'update-before') before = id;
            else shown.delete(id);
          } else {
            expect(r.kind).toBe('insert');
            expect(shown.has(id)).toBe(false);
            shown.set(id, r);
          }
        }
        expect(before).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });

  it('a tumbling window over the session changelog equals the chained batch computation', () => {
    fc.assert(
      fc.property(sessions, (s) => checkChain(secondAggregates.sum, s, true)),
      { numRuns: 300 },
    );
  });
});

describe('changelog: snapshot → restore → continue', () => {
  const show = (r: WindowResult<number, number>) =>
    `${r.key}[${r.start},${r.end})=${r.value} ${r.timing}#${r.pane} ${(r as Partial<WindowChange<number, number>>).kind ?? ''}`;
  let sink: ((line: string) => void) | undefined;
  const pipeline = (w: WindowAssigner, bound: number, lateness: number, early: number) =>
    createPipeline((events$: Observable<E>) =>
      events$.pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: bound }),
        windowBy({
          key: (e: E) => e.k,
          window: w,
          aggregate: avg((e: E) => e.v),
          allowedLateness: lateness,
          early: { count: early },
          late: (e) => sink?.(`late ${e.k}@${e.ts}`),
          changelog: true,
        }),
        mapRecords((r) => {
          sink?.(show(r));
          return r;
        }),
        windowBy({
          key: (r: WindowChange<number, number>) => r.key % 2,
          window: tumbling(25),
          aggregate: max((r: Row) => r.value, { retract: true }),
          allowedLateness: lateness,
          early: { count: 2 },
          late: (r) => sink?.(`late2 ${show(r)}`),
          changelog: true,
        }),
        mapRecords((r) => {
          sink?.(`2: ${show(r)}`);
          return r;
        }),
        // and a topN over that changelog, whose state holds every live row
        topN({ n: 1, by: (r) => r.value, ties: true, late: (r) => sink?.(`late3 ${show(r)}`) }),
        records(),
      ),
    );

  it('a run restored from a snapshot after event i emits exactly what the uninterrupted run emits after event i', () => {
    fc.assert(
      fc.property(
        fc.oneof(firstWindows, fc.integer({ min: 1, max: 6 }).map((g) => session(g) as WindowAssigner)),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer(),
        fc.integer({ min: 0, max: 50 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (w, bound, lateness, early, seed, n, cutAt) => {
          const rand = seededRandom(seed);
          const events: E[] = Array.from({ length: n }, (_, i) => ({ k: Math.floor(rand() * 3), ts: Math.floor(i * 2 + rand() * 8), v: Math.floor(rand() * 50) }));
          // Disorder beyond the bound: some records are late, some sessions grow after firing on time.
          const arrival = shuffleWithin(events, (e) => e.ts, bound * 3 + 2, rand);
          const p = pipeline(w, bound, lateness, early);

          const full: { after: number; line: string }[] = [];
          let pushed = 0;
          sink = (line) => full.push({ after: pushed, line });
          const whole = p.open((r) => full.push({ after: pushed, line: show(r) }));
          for (const e of arrival) {
            pushed++;
            whole.push(e);
          }
          pushed++;
          whole.end();

          const cut = Math.floor(cutAt * arrival.length);
          sink = undefined;
          const first = p.open(() => {});
          first.pushAll(arrival.slice(0, cut));
          const saved = structuredClone(JSON.parse(JSON.stringify(first.snapshot()))) as PipelineSnapshot;
          first.unsubscribe();

          const resumed: string[] = [];
          sink = (line) => resumed.push(line);
          const second = p.open((r) => resumed.push(show(r)), { restore: saved });
          second.pushAll(arrival.slice(cut));
          second.end();
          expect(resumed).toEqual(full.filter((x) => x.after > cut).map((x) => x.line));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('changelog: refused when the pipe is built', () => {
  const upstream = () =>
    of<E[]>({ k: 0, ts: 1, v: 1 }, { k: 0, ts: 2, v: 2 }).pipe(
      eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: count(), changelog: true }),
    );
  const build = (second: (src: ReturnType<typeof upstream>) => unknown) => () => second(upstream());

  it('a custom aggregate without retract, saying what to add', () => {
    const custom = aggregate<Row, number, number>({ create: () => 0, add: (a, r) => a + r.value, merge: (a, b) => a + b, result: (a) => a });
    const attempt = build((src) => src.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: custom })));
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow(/windowBy\.aggregate: .*changelog.*add retract\(accumulator, value\)/);
    // The same aggregate with retract is accepted.
    const withRetract = aggregate<Row, number, number>({ ...custom, retract: (a, r) => a - r.value });
    expect(build((src) => src.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: withRetract })))).not.toThrow();
  });

  it('min, max and maxBy name their alternative; sessions are refused', () => {
    const minAttempt = build((src) => src.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: min((r: Row) => r.value) })));
    expect(minAttempt).toThrow(/min\(f, \{ retract: true \}\)/);
    const maxAttempt = build((src) => src.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: max((r: Row) => r.value) })));
    expect(maxAttempt).toThrow(/max\(f, \{ retract: true \}\)/);
    const maxByAttempt = build((src) => src.pipe(windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: maxBy((r: Row) => r.value) })));
    expect(maxByAttempt).toThrow(/topN\(\{ n: 1/);
    const sessionAttempt = build((src) => src.pipe(windowBy({ key: (r) => r.key, window: session(5), aggregate: count() })));
    expect(sessionAttempt).toThrow(/windowBy\.window: session windows cannot consume a changelog/);
  });

  it('the changelog survives filterRecords and mapRecords; a map that drops `kind` errors the stream', () => {
    const filtered = build((src) =>
      src.pipe(
        filterRecords((r) => r.value > 0),
        windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: min((r: Row) => r.value) }),
      ),
    );
    expect(filtered).toThrow(InvalidOptionError);
    let error: unknown;
    upstream()
      .pipe(
        mapRecords((r) => ({ key: r.key, start: r.start, end: r.end, value: r.value, timing: r.timing, pane: r.pane })),
        windowBy({ key: (r) => r.key, window: tumbling(100), aggregate: count() }),
      )
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(InvalidRecordError);
    expect((error as Error).message).toMatch(/must keep `kind`/);
  });
});

describe('changelog: records and consumers', () => {
  const clicks: E[] = [
    { k: 1, ts: 1, v: 3 },
    { k: 2, ts: 2, v: 5 },
    { k: 1, ts: 3, v: 4 },
    { k: 3, ts: 4, v: 1 },
    { k: 2, ts: 5, v: 9 },
  ];

  it('default output is unchanged: no kind field', () => {
    const out = runSync(clicks, (src) =>
      src.pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: count(), early: { count: 1 } }),
        records(),
      ),
    );
    for (const r of out) expect(Object.keys(r).sort()).toEqual(['end', 'key', 'pane', 'start', 'timing', 'value']);
  });

  it('tumbling: insert, then update-before/update-after pairs carrying the previous row', () => {
    const out = runSync(clicks.slice(0, 3), (src) =>
      src.pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: sum((e: E) => e.v), early: { count: 1 }, changelog: true }),
        filterRecords((r) => r.key === 1),
        records(),
      ),
    );
    expect(out.map((r) => `${r.kind} ${r.value} ${r.timing}#${r.pane}`)).toEqual([
      'insert 3 early#0',
      'update-before 3 early#0',
      'update-after 7 early#1',
      'update-before 7 early#1',
      'update-after 7 on-time#2',
    ]);
  });

  it('early.interval: each tick takes back the pane of every changed window and adds the new one', () => {
    for (const win of [tumbling(1_000), session(1_000)] as WindowAssigner[]) {
      const clock = new VirtualTimeScheduler(VirtualAction, 25); // two ticks of the 10 ms interval
      const input = new Subject<E>();
      const out: string[] = [];
      input
        .pipe(
          eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 100 }),
          windowBy({ key: (e: E) => e.k, window: win, aggregate: count(), early: { interval: 10 }, scheduler: clock, changelog: true }),
          records(),
        )
        .subscribe((r) => out.push(`${r.key} ${r.kind} ${r.value} ${r.timing}#${r.pane}`));
      input.next({ k: 1, ts: 1, v: 0 });
      clock.maxFrames = 15;
      clock.flush(); // tick 1
      input.next({ k: 1, ts: 2, v: 0 });
      input.next({ k: 2, ts: 3, v: 0 });
      clock.maxFrames = 25;
      clock.flush(); // tick 2
      input.complete();
      // Key 1's session grew ([1, 1001) to [1, 1002)): a new window, so a delete and an insert.
      const second =
        win.kind === 'session'
          ? ['1 delete 1 early#0', '1 insert 2 early#0', '2 insert 1 early#0', '1 update-before 2 early#0', '1 update-after 2 on-time#1']
          : ['1 update-before 1 early#0', '1 update-after 2 early#1', '2 insert 1 early#0', '1 update-before 2 early#1', '1 update-after 2 on-time#2'];
      expect(out).toEqual(['1 insert 1 early#0', ...second, '2 update-before 1 early#0', '2 update-after 1 on-time#1']);
    }
  });

  it('topN over a changelog with early panes ranks the final rows, as topN over on-time panes does', () => {
    const ranked = (early: boolean) =>
      runSync(clicks, (src) =>
        src.pipe(
          eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
          windowBy({
            key: (e: E) => e.k,
            window: tumbling(10),
            aggregate: sum((e: E) => e.v),
            changelog: true,
            ...(early ? { early: { count: 1 } } : {}),
          }),
          topN({ n: 2, by: (r) => r.value }),
          records(),
        ),
      );
    // key 2: 14, key 1: 7; the early panes (key 2 at 5, key 1 at 3 and 7) were taken back.
    const brief = (early: boolean) => ranked(early).map((r) => `${r.key}[${r.start},${r.end})=${r.value} ${r.timing}`);
    expect(brief(true)).toEqual(['2[0,10)=14 on-time', '1[0,10)=7 on-time']);
    expect(brief(true)).toEqual(brief(false));
    for (const r of ranked(true)) expect('kind' in r).toBe(false);
  });

  it('topN over accumulating early panes would rank stale rows (what the changelog fixes)', () => {
    const out = runSync(clicks, (src) =>
      src.pipe(
        eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: E) => e.k, window: tumbling(10), aggregate: sum((e: E) => e.v), early: { count: 1 } }),
        topN({ n: 2, by: (r) => r.value }),
        records(),
      ),
    );
    expect(out.map((r) => `${r.key}=${r.value}`)).toEqual(['2=14', '2=14']);
  });

  it('min and max with { retract: true } take values back; the plain ones keep one number', () => {
    const m = min<number>(undefined, { retract: true });
    let acc = m.create();
    for (const v of [5, 3, 3, 8]) acc = m.add(acc, v);
    expect(m.result(acc)).toBe(3);
    acc = m.retract?.(acc, 3) ?? acc;
    expect(m.result(acc)).toBe(3);
    acc = m.retract?.(acc, 3) ?? acc;
    expect(m.result(acc)).toBe(5);
    const x = max<number>(undefined, { retract: true });
    const merged = x.merge(x.add(x.add(x.create(), 1), 9), x.add(x.create(), 4));
    expect(x.result(merged)).toBe(9);
    expect(x.result(x.retract?.(merged, 9) ?? merged)).toBe(4);
    expect(x.result(x.add(x.create(), Number.NaN))).toBeNaN();
    expect(min().retract).toBeUndefined();
    expect(() => min(undefined, { retract: false as true })).toThrow(/min\.retract: expected true/);
    expect(count().retract?.(3, undefined)).toBe(2);
    const a = avg<number>();
    expect(a.result(a.retract?.(a.add(a.add(a.create(), 2), 4), 4) ?? a.create())).toBe(2);
  });

  it('isRetraction and isDeletion', () => {
    expect([isRetraction({ kind: 'update-before' }), isRetraction({ kind: 'delete' }), isRetraction({ kind: 'insert' })]).toEqual([true, true, false]);
    expect([isDeletion({ kind: 'delete' }), isDeletion({ kind: 'update-before' }), isDeletion({})]).toEqual([true, false, false]);
  });
});
