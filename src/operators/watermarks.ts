/**
 * `watermarks`: observe event-time progress.
 *
 * @module
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Timed } from '../time/timed.js';
import { connectTimed } from './timed-observable.js';

/**
 * Emits only the watermark values of a timed stream (each strictly greater
 * than the last, ending with `Infinity` when the input completes). Useful
 * for progress bars, lag metrics and tests.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, watermarks } from 'tidemark';
 * from([{ ts: 10 }, { ts: 20 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 5 }), watermarks())
 *   .subscribe((w) => console.log(w)); // 4, 14, Infinity
 * ```
 * @see {@link records}
 */
export function watermarks<T>(): OperatorFunction<Timed<T>, number> {
  return (source) =>
    new Observable<number>((subscriber) =>
      connectTimed(
        source,
        {
          record: () => {},
          watermark: (w) => subscriber.next(w),
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        },
        subscriber,
        'watermarks',
      ),
    );
}
