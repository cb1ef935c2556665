/**
 * `mapRecords`: `map` for timed streams.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { requireFunction } from '../options.js';
import type { Timed } from '../time/timed.js';
import { connectTimed, isChangelogStream, TimedObservable } from './timed-observable.js';

/**
 * Transforms each record's value, keeping its timestamp, and passes
 * watermarks through: RxJS `map` would see watermark elements too. Over a
 * changelog (`windowBy({ changelog: true })`) the output is a changelog
 * too, so `project` must keep each record's `kind`
 * (`(r) => ({ ...r, value: r.value * 2 })`); a downstream windowBy errors
 * on a record without one.
 *
 * @param project - receives the value and its event timestamp
 * @throws {@link InvalidOptionError} when `project` is not a function
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, mapRecords, records } from 'tidemark';
 * from([{ price: 10, ts: 1 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *         mapRecords((bid) => ({ ...bid, euros: bid.price * 0.9 })), records())
 *   .subscribe((b) => console.log(b.euros)); // 9
 * ```
 * @see {@link filterRecords}
 */
export function mapRecords<T, R>(project: (value: T, timestamp: number) => R): OperatorFunction<Timed<T>, Timed<R>> {
  requireFunction('mapRecords(project)', project, 'pass (value, timestamp) => newValue');
  return (source) =>
    new TimedObservable<R>((sink, subscriber) =>
      connectTimed(
        source,
        {
          record: (value, timestamp) => sink.record(project(value, timestamp), timestamp),
          watermark: (w) => sink.watermark(w),
          error: (err) => sink.error(err),
          complete: () => sink.complete(),
        },
        subscriber,
        'mapRecords',
      ),
      isChangelogStream(source),
    );
}
