// The wire's ts is the pipeline's event time: never guessed from field names, never the append time.
import { map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, createPipeline, eventTime, tumbling, windowBy } from '../../src/index.js';
import { finalWireResult, wireTime } from '../../src/worker/upload-batch.js';

type Ev = { page: string; occurredAt: number; ts?: number };

describe('the wire time of an event', () => {
  it("is the pipeline's own event time, whatever its field is called", () => {
    const pipeline = (e$: Observable<Ev>) =>
      e$.pipe(
        eventTime({ timestamp: (e: Ev) => e.occurredAt, maxOutOfOrderness: 0 }),
        windowBy({ key: (e) => e.page, window: tumbling(10), aggregate: count() }),
      );
    const read = createPipeline(pipeline).open(() => undefined).timestamp as (e: unknown) => number;
    const time = wireTime(read);
    // A `ts` field that is not the pipeline's time is not read.
    expect(time({ page: '/', occurredAt: 5_000, ts: 1 })).toBe(5_000);
  });

  it('is null, never another time, when the pipeline cannot read it', () => {
    const read = (e: unknown) => (e as Ev).occurredAt;
    expect(wireTime(read)({ page: '/' })).toBeNull(); // undefined is not a time
    expect(wireTime(read)({ page: '/', occurredAt: Number.NaN })).toBeNull();
    expect(wireTime(() => { throw new Error('no time'); })({})).toBeNull();
    // A pipeline that changes events before stamping them gives no input time.
    const mapped = (e$: Observable<Ev>) => e$.pipe(map((e) => e), eventTime({ timestamp: (e: Ev) => e.occurredAt, maxOutOfOrderness: 0 }));
    expect(wireTime(createPipeline(mapped).open(() => undefined).timestamp as never)({ page: '/', occurredAt: 1, ts: 2 })).toBeNull();
  });
});

describe('what is uploaded of a fired result', () => {
  const row = { key: 'a', start: 0, end: 10, value: 3, pane: 1 };
  it('a final row as before; early rows and update-before never; a delete of a final row with kind: "delete"', () => {
    expect(finalWireResult({ ...row, timing: 'on-time' })).toEqual(row);
    expect(finalWireResult({ ...row, timing: 'late', kind: 'update-after' })).toEqual(row);
    expect(finalWireResult({ ...row, timing: 'early' })).toBeUndefined();
    expect(finalWireResult({ ...row, timing: 'on-time', kind: 'update-before' })).toBeUndefined();
    expect(finalWireResult({ ...row, timing: 'on-time', kind: 'delete' })).toEqual({ ...row, kind: 'delete' });
    expect(finalWireResult({ ...row, timing: 'early', kind: 'delete' })).toBeUndefined(); // the server never had it
    expect(finalWireResult(7)).toBeUndefined();
  });
});
