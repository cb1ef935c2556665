import { from, map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  avg,
  count,
  eventTime,
  filterRecords,
  InvalidOptionError,
  InvalidRecordError,
  mapRecords,
  max,
  records,
  session,
  sliding,
  sum,
  timedRecord,
  tumbling,
  type WindowResult,
  watermark,
  windowBy,
} from '../../src/index.js';
import { brief, type Ev, ev, trace, windowed } from '../helpers.js';

const byKey = (e: Ev) => e.k;
const stamp = (e: Ev) => e.ts;

describe('windowBy: on-time firing (rules 1, 2)', () => {
  it('fires a window exactly when the watermark reaches end - 1, before the next record is looked at', () => {
    const out = trace(
      from([ev('a', 0), ev('a', 5), ev('b', 9), ev('a', 10), ev('a', 19)]).pipe(
        eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }),
        windowBy({ key: byKey, window: tumbling(10), aggregate: count() }),
      ),
      (r) => brief(r),
    );
    expect(out).toEqual([
      'w:-1',
      'w:4',
      'w:8', // [0,10) is still open at watermark 8
      'r:a[0,10)=2 on-time#0@9',
      'r:b[0,10)=1 on-time#0@9', // keys in first-seen order
      'w:9',
      'w:18',
      'r:a[10,20)=2 on-time#0@19', // completion: the watermark becomes +Infinity
      'w:Infinity',
    ]);
  });

  it('waits for maxOutOfOrderness before firing and counts the out-of-order records', () => {
    const { results, late } = windowed(
      [ev('a', 1_000), ev('a', 11_000), ev('a', 9_000), ev('a', 12_001), ev('a', 3_000)],
      { window: tumbling(10_000), aggregate: count() },
      2_000,
    );
    // 12_001 moves the watermark to 9_999 = end - 1 of [0, 10_000): it fires with 2,
    // and 3_000 arrives after that: late, dropped to `late`.
    expect(results.map(brief)).toEqual(['a[0,10000)=2 on-time#0', 'a[10000,20000)=2 on-time#0']);
    expect(late).toEqual([ev('a', 3_000)]);
  });

  it('uses the window offset', () => {
    const { results } = windowed([ev('a', 2), ev('a', 3), ev('a', 12)], { window: tumbling(10, 3), aggregate: count() });
    expect(results.map(brief)).toEqual(['a[-7,3)=1 on-time#0', 'a[3,13)=2 on-time#0']);
  });

  it('stamps results with end - 1 and forwards the watermark after them, so windows can be chained', () => {
    // Hot pages: the page with the most hits per 10 ms window.
    type Hit = WindowResult<string, number>;
    const top: string[] = [];
    from([ev('x', 1), ev('y', 2), ev('y', 3), ev('x', 12), ev('x', 13), ev('y', 14), ev('z', 25)])
      .pipe(
        eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }),
        windowBy({ key: byKey, window: tumbling(10), aggregate: count() }),
        windowBy({
          key: (r: Hit) => r.start,
          window: tumbling(10),
          aggregate: aggregate<Hit, [string, number], string>({
            create: () => ['', -1],
            add: (acc, r) => (r.value > acc[1] ? [r.key, r.value] : acc),
            merge: (a, b) => (b[1] > a[1] ? b : a),
            result: (acc) => `${acc[0]}:${acc[1]}`,
          }),
        }),
        records(),
      )
      .subscribe((r) => top.push(`${r.key}=${r.value}`));
    expect(top).toEqual(['0=y:2', '10=x:2', '20=z:1']);
  });
});

describe('windowBy: lateness (rules 3, 4)', () => {
  it('sends a record whose windows are all late to `late` and changes nothing', () => {
    const { results, late } = windowed([ev('a', 5), ev('a', 20), ev('a', 9), ev('b', 3)], {
      window: tumbling(10),
      aggregate: count(),
    });
    expect(late).toEqual([ev('a', 9), ev('b', 3)]);
    expect(results.map(brief)).toEqual(['a[0,10)=1 on-time#0', 'a[20,30)=1 on-time#0']);
  });

  it('with allowedLateness, fires a late pane per accepted late record, accumulating, until purge', () => {
    const { results, late } = windowed(
      [ev('a', 1), ev('a', 10), ev('a', 2), ev('a', 14), ev('a', 3), ev('a', 15), ev('a', 4)],
      { window: tumbling(10), aggregate: count(), allowedLateness: 5 },
    );
    // wm after 10 is 9 (fires on time); after 14: 13; after 15: 14 = 9 + 5, so [0,10) is purged.
    expect(results.map(brief)).toEqual([
      'a[0,10)=1 on-time#0',
      'a[0,10)=2 late#1',
      'a[0,10)=3 late#2',
      'a[10,20)=3 on-time#0',
    ]);
    expect(late).toEqual([ev('a', 4)]);
  });

  it('fires a late pane #0 for a key that first appears in a window the watermark already passed', () => {
    const { results } = windowed([ev('a', 1), ev('a', 12), ev('b', 5)], {
      window: tumbling(10),
      aggregate: count(),
      allowedLateness: 10,
    });
    expect(results.map(brief)).toEqual(['a[0,10)=1 on-time#0', 'b[0,10)=1 late#0', 'a[10,20)=1 on-time#0']);
  });

  it('fires a late pane #0 for a window that received no record before the watermark passed it', () => {
    const { results } = windowed([ev('a', 25), ev('a', 12)], {
      window: tumbling(10),
      aggregate: count(),
      allowedLateness: 20,
    });
    expect(results.map(brief)).toEqual(['a[10,20)=1 late#0', 'a[20,30)=1 on-time#0']);
  });

  it('purges exactly when watermark >= end - 1 + allowedLateness', () => {
    const run = (last: number) =>
      windowed([ev('a', 1), ev('a', last), ev('a', 2)], { window: tumbling(10), aggregate: count(), allowedLateness: 5 });
    expect(run(14).late).toEqual([]); // wm 13 < 14: still accepted
    expect(run(15).late).toEqual([ev('a', 2)]); // wm 14 = 9 + 5: purged
  });
});

describe('windowBy: early firings (rule 4)', () => {
  it('with early.count = N fires an early pane after every N records, then on-time, then late; panes count from 0', () => {
    const { results } = windowed(
      [ev('a', 1), ev('a', 2), ev('a', 3), ev('a', 4), ev('a', 5), ev('a', 10), ev('a', 6)],
      { window: tumbling(10), aggregate: count(), early: { count: 2 }, allowedLateness: 10 },
    );
    expect(results.map(brief)).toEqual([
      'a[0,10)=2 early#0',
      'a[0,10)=4 early#1',
      'a[0,10)=5 on-time#2',
      'a[0,10)=6 late#3', // early.count no longer applies once on time
      'a[10,20)=1 on-time#0',
    ]);
  });

  it('counts early records per (key, window)', () => {
    const { results } = windowed([ev('a', 1), ev('b', 2), ev('a', 3), ev('b', 4)], {
      window: tumbling(10),
      aggregate: count(),
      early: { count: 2 },
    });
    expect(results.map(brief)).toEqual([
      'a[0,10)=2 early#0',
      'b[0,10)=2 early#0',
      'a[0,10)=2 on-time#1',
      'b[0,10)=2 on-time#1',
    ]);
  });

  it('with early.interval fires, every interval of processing time, the windows that changed since their last firing', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const source = cold<Ev>('a 2ms b 8ms c 20ms d', { a: ev('x', 1), b: ev('y', 2), c: ev('x', 3), d: ev('x', 15) });
      const out = source.pipe(
        eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }),
        windowBy({ key: byKey, window: tumbling(10), aggregate: count(), early: { interval: 10 } }),
        records(),
        map(brief),
      );
      // t=10: x and y changed → early #0 each. t=12: c changes x → early #1 at
      // t=20 (y unchanged: no pane). t=30: nothing changed. t=33: d (ts 15)
      // closes [0,10) on time and opens [10,20), which fires early at t=40.
      expectObservable(out, '^ 45ms !').toBe('10ms (pq) 6ms r 12ms (st) 3ms u', {
        p: 'x[0,10)=1 early#0',
        q: 'y[0,10)=1 early#0',
        r: 'x[0,10)=2 early#1',
        s: 'x[0,10)=2 on-time#2',
        t: 'y[0,10)=1 on-time#1',
        u: 'x[10,20)=1 early#0',
      });
    });
  });
});

describe('windowBy: sliding windows', () => {
  it('adds a record to every window containing it and fires each in end order', () => {
    const { results } = windowed([ev('a', 7), ev('a', 12), ev('a', 30)], { window: sliding(10, 5), aggregate: count() });
    expect(results.map(brief)).toEqual([
      'a[0,10)=1 on-time#0',
      'a[5,15)=2 on-time#0',
      'a[10,20)=1 on-time#0',
      'a[25,35)=1 on-time#0',
      'a[30,40)=1 on-time#0',
    ]);
  });

  it('accepts a record into its windows that are not late yet, and sends it to `late` only when all are', () => {
    const { results, late } = windowed([ev('a', 12), ev('a', 7), ev('a', 15), ev('a', 4)], {
      window: sliding(10, 5),
      aggregate: count(),
    });
    // After 12 the watermark is 11: [0,10) is closed (late), [5,15) is open, so 7 counts in [5,15) only.
    expect(results.map(brief)).toEqual([
      'a[5,15)=2 on-time#0',
      'a[10,20)=2 on-time#0',
      'a[15,25)=1 on-time#0',
    ]);
    expect(late).toEqual([ev('a', 4)]);
  });

  it('treats a window whose end - 1 equals the watermark as late', () => {
    const { results, late } = windowed([ev('a', 1), ev('a', 10), ev('a', 4)], { window: sliding(10, 5), aggregate: count() });
    expect(late).toEqual([ev('a', 4)]); // [0,10) and [-5,5) are both closed at watermark 9
    expect(results.map(brief)).toEqual(['a[-5,5)=1 on-time#0', 'a[0,10)=1 on-time#0', 'a[5,15)=1 on-time#0', 'a[10,20)=1 on-time#0']);
  });
});

describe('windowBy: session windows (rule 5)', () => {
  it('merges a key’s overlapping and touching sessions, combining accumulators', () => {
    const { results } = windowed(
      [ev('a', 0), ev('b', 1), ev('a', 3), ev('a', 8), ev('a', 20), ev('a', 13), ev('b', 40)],
      { window: session(5), aggregate: count() },
      10,
    );
    // a: 0,3,8 → [0,13); 13 touches [0,13) → [0,18); 20 is more than a gap later → [20,25)
    expect(results.map(brief)).toEqual(['b[1,6)=1 on-time#0', 'a[0,18)=4 on-time#0', 'a[20,25)=1 on-time#0', 'b[40,45)=1 on-time#0']);
  });

  it('bridges two sessions with a record that falls between them', () => {
    const { results } = windowed([ev('a', 0), ev('a', 10), ev('a', 5)], { window: session(5), aggregate: sum((e: Ev) => e.ts) }, 10);
    expect(results.map(brief)).toEqual(['a[0,15)=15 on-time#0']);
  });

  it('fires a session when the watermark reaches its end (a record stamped `end` would still join it)', () => {
    const fired = (last: number) =>
      trace(
        from([ev('a', 0), ev('a', last)]).pipe(
          eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }),
          windowBy({ key: byKey, window: session(5), aggregate: count() }),
        ),
        brief,
      );
    expect(fired(5)).toEqual(['w:-1', 'w:4', 'r:a[0,10)=2 on-time#0@10', 'w:Infinity']);
    expect(fired(6)).toEqual(['w:-1', 'r:a[0,5)=1 on-time#0@5', 'w:5', 'r:a[6,11)=1 on-time#0@11', 'w:Infinity']);
  });

  it('keeps a session open until the watermark reaches end: late only when end + allowedLateness <= watermark', () => {
    // a@0 opens [0,5); a@5 is behind by 5 = the bound, still on time, and touches it.
    const inTime = windowed([ev('a', 0), ev('a', 10), ev('a', 5)], { window: session(5), aggregate: count() }, 5);
    expect(inTime.results.map(brief)).toEqual(['a[0,15)=3 on-time#0']);
    // [0,5) with the watermark at 5 is closed: a@0 alone opens [0,5) again, which is late.
    const late = windowed([ev('a', 0), ev('a', 6), ev('a', 0)], { window: session(5), aggregate: count() });
    expect(late.late).toEqual([ev('a', 0)]);
  });

  it('sends a record to `late` when its merged session would be late, merging nothing', () => {
    const { results, late } = windowed([ev('a', 0), ev('a', 30), ev('a', 2)], { window: session(5), aggregate: count() });
    expect(late).toEqual([ev('a', 2)]);
    expect(results.map(brief)).toEqual(['a[0,5)=1 on-time#0', 'a[30,35)=1 on-time#0']);
  });

  it('fires late panes for records joining a session within allowed lateness', () => {
    const { results } = windowed([ev('a', 0), ev('a', 30), ev('a', 2), ev('a', 33)], {
      window: session(5),
      aggregate: count(),
      allowedLateness: 100,
    });
    expect(results.map(brief)).toEqual(['a[0,5)=1 on-time#0', 'a[0,7)=2 late#0', 'a[30,38)=2 on-time#0']);
  });

  it('supports early firings by count', () => {
    const { results } = windowed([ev('a', 0), ev('a', 1), ev('a', 2)], {
      window: session(5),
      aggregate: count(),
      early: { count: 2 },
    });
    expect(results.map(brief)).toEqual(['a[0,6)=2 early#0', 'a[0,7)=3 on-time#0']);
  });
});

describe('windowBy: completion, errors, keys (rules 6 and bad input)', () => {
  it('fires everything open when the input completes, then completes', () => {
    const input = new Subject<Ev>();
    const out: string[] = [];
    let done = false;
    input
      .pipe(
        eventTime({ timestamp: stamp, maxOutOfOrderness: 1_000 }),
        windowBy({ key: byKey, window: tumbling(10), aggregate: max((e: Ev) => e.ts) }),
        records(),
      )
      .subscribe({ next: (r) => out.push(brief(r)), complete: () => (done = true) });
    input.next(ev('a', 3));
    input.next(ev('b', 15));
    expect(out).toEqual([]);
    input.complete();
    expect(out).toEqual(['a[0,10)=3 on-time#0', 'b[10,20)=15 on-time#0']);
    expect(done).toBe(true);
  });

  it('fires everything on completion even when the timed input has no final watermark', () => {
    const out: string[] = [];
    from([timedRecord(ev('a', 1), 1), timedRecord(ev('a', 2), 2)])
      .pipe(windowBy({ key: byKey, window: tumbling(10), aggregate: count() }), records())
      .subscribe((r) => out.push(brief(r)));
    expect(out).toEqual(['a[0,10)=2 on-time#0']);
  });

  it('propagates an upstream error without firing', () => {
    const input = new Subject<Ev>();
    const out: string[] = [];
    let error: unknown;
    input
      .pipe(eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }), windowBy({ key: byKey, window: tumbling(10), aggregate: count() }), records())
      .subscribe({ next: (r) => out.push(brief(r)), error: (e) => (error = e) });
    input.next(ev('a', 1));
    input.error(new Error('source failed'));
    expect((error as Error).message).toBe('source failed');
    expect(out).toEqual([]);
  });

  it('errors the stream when a user function throws, and processes nothing after', () => {
    let calls = 0;
    let error: unknown;
    from([ev('a', 1), ev('a', 2), ev('a', 3)])
      .pipe(
        eventTime({ timestamp: stamp, maxOutOfOrderness: 0 }),
        windowBy({
          key: byKey,
          window: tumbling(10),
          aggregate: aggregate({
            create: () => 0,
            add: (acc: number) => {
              calls++;
              if (acc === 1) throw new Error('bad aggregate');
              return acc + 1;
            },
            merge: (a: number, b: number) => a + b,
            result: (acc: number) => acc,
          }),
        }),
        records(),
      )
      .subscribe({ error: (e) => (error = e) });
    expect((error as Error).message).toBe('bad aggregate');
    expect(calls).toBe(2);
  });

  it('routes records with a bad key to `invalid`, or errors naming the problem', () => {
    const keys: unknown[] = ['ok', 7, null, {}, Number.NaN, undefined, 8];
    const events = keys.map((k, i) => ({ k, ts: i }));
    const invalid: InvalidRecordError[] = [];
    const out: string[] = [];
    from(events)
      .pipe(
        eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e) => e.k as string, window: tumbling(100), aggregate: count(), invalid: (e) => invalid.push(e) }),
        records(),
      )
      .subscribe((r) => out.push(`${r.key}=${r.value}`));
    expect(out).toEqual(['ok=1', '7=1', '8=1']);
    expect(invalid.map((e) => e.record)).toEqual([events[2], events[3], events[4], events[5]]);
    let error: unknown;
    from(events)
      .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k as string, window: tumbling(100), aggregate: count() }))
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(InvalidRecordError);
    expect((error as Error).message).toMatch(/key\(record\) returned null; keys must be strings or finite numbers/);
  });

  it('tells a user who forgot eventTime what to do', () => {
    let error: unknown;
    from([{ ts: 1 }])
      .pipe(windowBy({ key: () => 'k', window: tumbling(10), aggregate: count() }) as never)
      .subscribe({ error: (e) => (error = e) });
    expect((error as Error).message).toMatch(/did you forget to put eventTime/);
  });

  it('validates options eagerly', () => {
    const base = { key: byKey, window: tumbling(10), aggregate: count() };
    const bad = (o: object) => () => windowBy({ ...base, ...o } as never);
    expect(bad({ key: 'k' })).toThrow(/windowBy\.key: expected a function/);
    expect(bad({ window: 10 })).toThrow(/windowBy\.window: expected tumbling\(size\)/);
    expect(bad({ aggregate: 'count' })).toThrow(/windowBy\.aggregate/);
    expect(bad({ allowedLateness: -1 })).toThrow(/windowBy\.allowedLateness: must be a finite number >= 0/);
    expect(bad({ early: { count: 0 } })).toThrow(/windowBy\.early\.count: must be a whole number >= 1/);
    expect(bad({ early: { count: 1.5 } })).toThrow(/windowBy\.early\.count/);
    expect(bad({ early: { interval: -1 } })).toThrow(/windowBy\.early\.interval/);
    expect(bad({ early: { every: 3 } })).toThrow(/windowBy\.early\.every: unknown option/);
    expect(bad({ lateness: 5 })).toThrow(/windowBy\.lateness: unknown option; the options are key, window/);
    expect(bad({ late: 'drop' })).toThrow(/windowBy\.late/);
    expect(() => aggregate({ create: () => 0 } as never)).toThrow(/aggregate\.add/);
    expect(() => sum('price' as never)).toThrow(InvalidOptionError);
  });
});

describe('windowBy: fused and element paths agree', () => {
  it('gives identical output when a plain RxJS operator sits between the timed operators', () => {
    const events = [ev('a', 5), ev('b', 1), ev('a', 14), ev('a', 2), ev('b', 30), ev('a', 12), ev('c', 31), ev('a', 3)];
    const build = (identity: boolean) =>
      trace(
        from(events).pipe(
          eventTime({ timestamp: stamp, maxOutOfOrderness: 4 }),
          identity ? map((x) => x) : (s) => s,
          mapRecords((e: Ev) => ({ ...e, k: e.k.toUpperCase() })),
          identity ? map((x) => x) : (s) => s,
          filterRecords((e) => e.k !== 'C'),
          windowBy({ key: byKey, window: sliding(10, 5), aggregate: avg((e: Ev) => e.ts), allowedLateness: 5, early: { count: 2 } }),
          identity ? map((x) => x) : (s) => s,
        ),
        brief,
      );
    const fused = build(false);
    expect(fused.length).toBeGreaterThan(10);
    expect(build(true)).toEqual(fused);
  });

  it('ignores watermarks that do not advance, on the element path too', () => {
    const out = trace(
      from([watermark(5), timedRecord(ev('a', 9), 9), watermark(5), watermark(4), watermark(9)]).pipe(
        windowBy({ key: byKey, window: tumbling(10), aggregate: count() }),
      ),
      brief,
    );
    expect(out).toEqual(['w:5', 'r:a[0,10)=1 on-time#0@9', 'w:9', 'w:Infinity']);
  });
});
