/**
 * `records`: leave the timed world.
 *
 * @module
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Timed } from '../time/timed.js';
import { connectTimed } from './timed-observable.js';

/**
 * Drops the watermarks of a timed stream and emits the record values: the
 * usual last step of a pipeline.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, session, count, records } from 'tidemark';
 * from([{ u: 'a', ts: 0 }, { u: 'a', ts: 3_000 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *         windowBy({ key: (e) => e.u, window: session(5_000), aggregate: count() }), records())
 *   .subscribe((r) => console.log(r.start, r.end, r.value)); // 0 8000 2
 * ```
 * @see {@link watermarks}
 */
export function records<T>(): OperatorFunction<Timed<T>, T> {
  return (source) =>
    new Observable<T>((subscriber) =>
      connectTimed(
        source,
        {
          record: (value) => subscriber.next(value),
          watermark: () => {},
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        },
        subscriber,
        'records',
      ),
    );
}
