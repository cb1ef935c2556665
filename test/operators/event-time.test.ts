import { from, map, Subject, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  eventTime,
  eventTimeBatches,
  eventTimeColumns,
  InvalidOptionError,
  InvalidRecordError,
  timedRecord,
  watermarks,
} from '../../src/index.js';
import { trace } from '../helpers.js';

const ts = (e: { ts: number }) => e.ts;

describe('eventTime', () => {
  it('emits each record, then the watermark max(wm, maxTs - maxOutOfOrderness - 1) when it advances', () => {
    const out = trace(
      from([{ ts: 5_000 }, { ts: 3_000 }, { ts: 9_000 }, { ts: 8_000 }]).pipe(
        eventTime({ timestamp: ts, maxOutOfOrderness: 2_000 }),
      ),
      (e) => String(e.ts),
    );
    expect(out).toEqual([
      'r:5000@5000',
      'w:2999',
      'r:3000@3000', // behind the newest record: the watermark does not move
      'r:9000@9000',
      'w:6999',
      'r:8000@8000',
      'w:Infinity', // completion closes everything
    ]);
  });

  it('starts the watermark at -Infinity and never repeats or lowers it', () => {
    const out: number[] = [];
    from([{ ts: 10 }, { ts: 10 }, { ts: 2 }, { ts: 11 }])
      .pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0 }), watermarks())
      .subscribe((w) => out.push(w));
    expect(out).toEqual([9, 10, Number.POSITIVE_INFINITY]);
  });

  it('gives the same stream for batches as for single events', () => {
    const events = [{ ts: 7 }, { ts: 1 }, { ts: 30 }, { ts: 12 }, { ts: 31 }];
    const single = trace(from(events).pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 5 })), (e) => `${e.ts}`);
    const batched = trace(
      from([events.slice(0, 2), [], events.slice(2)]).pipe(eventTimeBatches({ timestamp: ts, maxOutOfOrderness: 5 })),
      (e) => `${e.ts}`,
    );
    expect(batched).toEqual(single);
  });

  it('gives the same stream for columnar batches, decoding each row with `row`', () => {
    const events = [{ ts: 7 }, { ts: 1 }, { ts: 30 }, { ts: 12 }, { ts: 31 }];
    const single = trace(from(events).pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 5 })), (e) => `${e.ts}`);
    type Cols = { length: number; ts: Float64Array };
    const column = (es: { ts: number }[]): Cols => ({ length: es.length, ts: Float64Array.from(es, (e) => e.ts) });
    const columnar = trace(
      from([column(events.slice(0, 3)), column([]), column(events.slice(3))]).pipe(
        eventTimeColumns({ row: (b: Cols, i) => ({ ts: b.ts[i] as number }), timestamp: ts, maxOutOfOrderness: 5 }),
      ),
      (e) => `${e.ts}`,
    );
    expect(columnar).toEqual(single);
  });

  it('refuses a columnar batch without a length, and fails the stream when `row` throws', () => {
    const errors: string[] = [];
    const op = eventTimeColumns({ row: (b: { length: number }, i) => ({ ts: i, b }), timestamp: ts, maxOutOfOrderness: 0 });
    from([{ rows: 3 } as never]).pipe(op).subscribe({ error: (e) => errors.push(e.message) });
    from([{ length: 2 }])
      .pipe(
        eventTimeColumns({
          row: () => {
            throw new Error('bad row');
          },
          timestamp: ts,
          maxOutOfOrderness: 0,
        }),
      )
      .subscribe({ error: (e) => errors.push(e.message) });
    expect(errors).toEqual([
      'eventTimeColumns: expected a columnar batch with a whole-number length, got an object',
      'bad row',
    ]);
    expect(() => eventTimeColumns({ timestamp: ts, maxOutOfOrderness: 0 } as never)).toThrow(/eventTimeColumns\.row/);
  });

  it('sends a record with a non-finite timestamp to `invalid` and skips it', () => {
    const invalid: InvalidRecordError[] = [];
    const out = trace(
      from([{ ts: 1 }, { ts: Number.NaN }, { ts: '3' as unknown as number }, { ts: Number.POSITIVE_INFINITY }, { ts: 4 }]).pipe(
        eventTime({ timestamp: ts, maxOutOfOrderness: 0, invalid: (e) => invalid.push(e) }),
      ),
      (e) => String(e.ts),
    );
    expect(out).toEqual(['r:1@1', 'w:0', 'r:4@4', 'w:3', 'w:Infinity']);
    expect(invalid.map((e) => e.name)).toEqual(['InvalidRecordError', 'InvalidRecordError', 'InvalidRecordError']);
    expect(invalid[0]?.message).toMatch(/timestamp\(event\) returned NaN, not a finite number/);
    expect(invalid[1]?.record).toEqual({ ts: '3' });
  });

  it('errors the stream on a non-finite timestamp when there is no `invalid` handler, processing nothing after it', () => {
    const seen: string[] = [];
    let error: unknown;
    from([{ ts: 1 }, { ts: Number.NaN }, { ts: 2 }])
      .pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0 }))
      .subscribe({ next: (el) => seen.push(el.kind), error: (e) => (error = e) });
    expect(seen).toEqual(['record', 'watermark']);
    expect(error).toBeInstanceOf(InvalidRecordError);
    expect((error as Error).message).toMatch(/pass `invalid` to skip/);
  });

  it('propagates source errors and errors thrown by the timestamp function', () => {
    const errors: unknown[] = [];
    const boom = new Error('boom');
    from([{ ts: 1 }])
      .pipe(
        map(() => {
          throw boom;
        }),
        eventTime({ timestamp: ts, maxOutOfOrderness: 0 }),
      )
      .subscribe({ error: (e) => errors.push(e) });
    from([{ ts: 1 }])
      .pipe(
        eventTime({
          timestamp: () => {
            throw boom;
          },
          maxOutOfOrderness: 0,
        }),
      )
      .subscribe({ error: (e) => errors.push(e) });
    expect(errors).toEqual([boom, boom]);
  });

  it('validates options eagerly with messages that say how to fix them', () => {
    const bad = (o: unknown) => () => eventTime(o as never);
    expect(bad(undefined)).toThrow(InvalidOptionError);
    expect(bad({ maxOutOfOrderness: 0 })).toThrow(/eventTime\.timestamp: expected a function, got undefined; pass e\.g\./);
    expect(bad({ timestamp: ts })).toThrow(/eventTime\.maxOutOfOrderness: is required.*use 0 for in-order/);
    expect(bad({ timestamp: ts, maxOutOfOrderness: -1 })).toThrow(/must be a finite number >= 0/);
    expect(bad({ timestamp: ts, maxOutOfOrderness: 0, idleTimeout: 0 })).toThrow(/eventTime\.idleTimeout/);
    expect(bad({ timestamp: ts, maxOutOfOrderness: 0, maxOutOfOrderliness: 5 })).toThrow(
      /eventTime\.maxOutOfOrderliness: unknown option/,
    );
    expect(bad({ timestamp: ts, maxOutOfOrderness: 0, scheduler: {} })).toThrow(/SchedulerLike/);
    expect(() => eventTimeBatches({ timestamp: ts } as never)).toThrow(/eventTimeBatches\.maxOutOfOrderness/);
  });

  it('refuses a batch that is not an array', () => {
    let error: unknown;
    from([{ ts: 1 } as never])
      .pipe(eventTimeBatches({ timestamp: ts, maxOutOfOrderness: 0 }))
      .subscribe({ error: (e) => (error = e) });
    expect((error as Error).message).toMatch(/expected an array of events/);
  });

  it('stops reading a synchronous source once the subscriber is gone', () => {
    let calls = 0;
    const seen: string[] = [];
    from([{ ts: 1 }, { ts: 2 }, { ts: 3 }, { ts: 4 }])
      .pipe(
        eventTime({ timestamp: (e) => (calls++, e.ts), maxOutOfOrderness: 0 }),
        take(3),
      )
      .subscribe((el) => seen.push(el.kind));
    expect(seen).toEqual(['record', 'watermark', 'record']);
    expect(calls).toBe(2);
  });
});

describe('eventTime idleness (virtual time)', () => {
  it('advances the watermark with the clock once no record arrived for a whole idleTimeout', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      // Events are stamped with the same (virtual) clock; the source stays open.
      const source = cold<{ ts: number }>('a 9ms b', { a: { ts: 0 }, b: { ts: 10 } });
      const out = source.pipe(
        eventTime({ timestamp: ts, maxOutOfOrderness: 2, idleTimeout: 20 }),
        watermarks(),
      );
      // Ticks every 5 ms. The tick at 10 sees b: active at 10. Idle from the
      // tick at 30 on (30 - 10 >= 20): the watermark follows now - 2 - 1.
      expectObservable(out, '^ 45ms !').toBe('w 9ms x 19ms p 4ms q 4ms r 4ms s', {
        w: -3,
        x: 7,
        p: 27,
        q: 32,
        r: 37,
        s: 42,
      });
    });
  });

  it('declares idleness between 1 and 1.25 timeouts after the last record', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      // b at 12 is seen by the tick at 15: idle at the first tick >= 35, i.e. 35
      // (23 ms after b: within [20, 25]).
      const source = cold<{ ts: number }>('a 11ms b', { a: { ts: 0 }, b: { ts: 12 } });
      const out = source.pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0, idleTimeout: 20 }), watermarks());
      expectObservable(out, '^ 37ms !').toBe('w 11ms x 22ms y', { w: -1, x: 11, y: 34 });
    });
  });

  it('does not advance the watermark while records keep arriving', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const source = cold<{ ts: number }>('a 14ms a 14ms a 14ms a', { a: { ts: 0 } });
      const out = source.pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0, idleTimeout: 20 }), watermarks());
      expectObservable(out, '^ 50ms !').toBe('w', { w: -1 });
    });
  });

  it('closes with +Infinity when a hot source completes, with no idle timer configured', () => {
    const input = new Subject<{ ts: number }>();
    const out: number[] = [];
    input.pipe(eventTime({ timestamp: ts, maxOutOfOrderness: 0 }), watermarks()).subscribe((w) => out.push(w));
    input.next({ ts: 5 });
    input.complete();
    expect(out).toEqual([4, Number.POSITIVE_INFINITY]);
  });
});

describe('timed elements', () => {
  it('are plain readable objects', () => {
    expect(timedRecord('x', 5)).toMatchObject({ kind: 'record', value: 'x', timestamp: 5 });
  });
});
