/**
 * `eventTimeColumns`: {@link eventTime} for columnar batches.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { describe, InvalidRecordError } from '../errors.js';
import { requireFunction } from '../options.js';
import type { Timed } from '../time/timed.js';
import { type EventTimeOptions, eventTimeOperator } from './event-time.js';

/** A batch of events stored column by column; `length` is its number of rows. */
export interface ColumnBatch {
  readonly length: number;
}

/** Options of {@link eventTimeColumns}: those of {@link eventTime}, plus how to read one row. */
export interface EventTimeColumnsOptions<C extends ColumnBatch, T> extends EventTimeOptions<T> {
  /**
   * Builds the event at row `index` of `batch`, e.g.
   * `(b, i) => ({ user: b.user[i], ts: b.ts[i] })`. Return a fresh object
   * per row: it is the record value your key and aggregate functions see.
   */
  readonly row: (batch: C, index: number) => T;
}

/**
 * Like {@link eventTime}, for a source that delivers **columnar** batches
 * (typed arrays from a worker message, a file, a database): the fastest way
 * in. Each row is decoded by your `row` function just before it is
 * processed, so decoded events are young and short-lived (cheap for the
 * garbage collector) and a batch costs no intermediate array. Results are
 * identical to feeding the rows one by one.
 *
 * @param options - `row` plus the {@link EventTimeOptions}
 * @throws {@link InvalidOptionError} at call time for invalid options
 * @example
 * ```ts
 * import { of } from 'rxjs';
 * import { eventTimeColumns, windowBy, tumbling, count, records } from 'tidemark';
 * const batch = { length: 3, ts: Float64Array.of(1, 5, 12), user: Int32Array.of(7, 7, 8) };
 * of(batch)
 *   .pipe(eventTimeColumns({ row: (b: typeof batch, i) => ({ user: b.user[i] ?? 0, ts: b.ts[i] ?? Number.NaN }),
 *                            timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *         windowBy({ key: (e) => e.user, window: tumbling(10), aggregate: count() }), records())
 *   .subscribe((r) => console.log(r.key, r.start, r.value)); // 7 0 2, 8 10 1
 * ```
 * @see {@link eventTimeBatches} for arrays of objects
 */
export function eventTimeColumns<C extends ColumnBatch, T>(
  options: EventTimeColumnsOptions<C, T>,
): OperatorFunction<C, Timed<T>> {
  requireFunction('eventTimeColumns.row', options?.row, 'pass (batch, index) => event');
  const { row, ...rest } = options;
  return eventTimeOperator<C, T>('eventTimeColumns', rest, (head, batch) => {
    const n = (batch as ColumnBatch | null)?.length;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      head.error(
        new InvalidRecordError(
          `eventTimeColumns: expected a columnar batch with a whole-number length, got ${describe(batch)}`,
          batch,
        ),
      );
      return;
    }
    try {
      for (let i = 0; i < n; i++) if (!head.push(row(batch, i))) return;
    } catch (err) {
      head.error(err); // `row` threw: fail the stream, as RxJS operators do
    }
  });
}
