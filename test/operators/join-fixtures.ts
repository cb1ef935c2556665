// Shared fixtures for the join tests: two inputs from one pushed stream of tagged events.
import fc from 'fast-check';
import { connect, filter, type Observable } from 'rxjs';
import { eventTime, type Timed } from '../../src/index.js';

export interface Side {
  readonly side: 'L' | 'R';
  readonly k: number;
  readonly ts: number;
  readonly id: number;
}

export const tsOf = (e: Side) => e.ts;

/** Splits one stream of tagged events into a left and a right timed input (each with its own eventTime) and joins them with `join`. */
export function twoSided<O>(
  bound: number,
  join: (left$: Observable<Timed<Side>>, right$: Observable<Timed<Side>>) => Observable<O>,
) {
  return (events$: Observable<Side>): Observable<O> =>
    events$.pipe(
      connect((shared) =>
        join(
          shared.pipe(
            filter((e) => e.side === 'L'),
            eventTime({ timestamp: tsOf, maxOutOfOrderness: bound, id: 'left' }),
          ),
          shared.pipe(
            filter((e) => e.side === 'R'),
            eventTime({ timestamp: tsOf, maxOutOfOrderness: bound, id: 'right' }),
          ),
        ),
      ),
    );
}

/**
 * Events of both sides and an arrival order in which no record is more than
 * `bound` ms behind the newest one of its side: sorted by `ts + jitter`, with
 * `0 <= jitter <= bound`.
 */
export function sidedEvents(bound: number, { keys = 4, maxTs = 200, maxLength = 60 } = {}) {
  return fc
    .array(
      fc.record({
        side: fc.constantFrom<'L' | 'R'>('L', 'R'),
        k: fc.integer({ min: 0, max: keys - 1 }),
        ts: fc.integer({ min: 0, max: maxTs }),
        jitter: fc.integer({ min: 0, max: bound }),
      }),
      { maxLength },
    )
    .map((raw) =>
      raw
        .map((r, id) => ({ e: { side: r.side, k: r.k, ts: r.ts, id } as Side, at: r.ts + r.jitter }))
        .sort((a, b) => a.at - b.at)
        .map((x) => x.e),
    );
}
