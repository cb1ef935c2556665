/**
 * `filterRecords`: `filter` for timed streams.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { requireFunction } from '../options.js';
import type { Timed } from '../time/timed.js';
import { connectTimed, isChangelogStream, TimedObservable } from './timed-observable.js';

/**
 * Keeps the records for which `predicate` is true and passes every
 * watermark through, so downstream windows still close. A type-guard
 * predicate narrows the record type, as RxJS `filter` does. Over a
 * changelog (`windowBy({ changelog: true })`) the output is a changelog
 * too; a predicate that depends on the row only (not on its `kind`) keeps
 * it consistent, since a retraction carries the row it takes back.
 *
 * @param predicate - receives the value and its event timestamp
 * @throws {@link InvalidOptionError} when `predicate` is not a function
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, filterRecords, records } from 'tidemark';
 * from([{ auction: 1007, ts: 1 }, { auction: 42, ts: 2 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *         filterRecords((bid) => bid.auction % 123 === 0), records())
 *   .subscribe(); // nothing: neither id is a multiple of 123
 * ```
 * @see {@link mapRecords}
 */
export function filterRecords<T, S extends T>(
  predicate: (value: T, timestamp: number) => value is S,
): OperatorFunction<Timed<T>, Timed<S>>;
export function filterRecords<T>(predicate: (value: T, timestamp: number) => boolean): OperatorFunction<Timed<T>, Timed<T>>;
export function filterRecords<T>(
  predicate: (value: T, timestamp: number) => boolean,
): OperatorFunction<Timed<T>, Timed<T>> {
  requireFunction('filterRecords(predicate)', predicate, 'pass (value, timestamp) => boolean');
  return (source) =>
    new TimedObservable<T>((sink, subscriber) =>
      connectTimed(
        source,
        {
          record: (value, timestamp) => {
            if (predicate(value, timestamp)) sink.record(value, timestamp);
          },
          watermark: (w) => sink.watermark(w),
          error: (err) => sink.error(err),
          complete: () => sink.complete(),
        },
        subscriber,
        'filterRecords',
      ),
      isChangelogStream(source),
    );
}
