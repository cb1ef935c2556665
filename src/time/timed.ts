/**
 * The elements of a timed stream: records that carry an event timestamp, and
 * watermarks that promise no record with a timestamp at or below them will
 * follow (except late ones, which windows route to their `late` handler).
 *
 * @module
 */

/**
 * A value with its event timestamp (milliseconds, any finite number).
 *
 * @example
 * ```ts
 * import { timedRecord } from 'tidemark';
 * const r = timedRecord({ page: '/home' }, 1_000);
 * console.log(r.kind, r.timestamp, r.value.page); // record 1000 /home
 * ```
 */
export interface TimedRecord<T> {
  readonly kind: 'record';
  readonly timestamp: number;
  readonly value: T;
}

/**
 * Event-time progress: every record with `timestamp <= watermark` is expected
 * to have arrived already. Starts at `-Infinity`; `+Infinity` means the input
 * is complete.
 *
 * @example
 * ```ts
 * import { watermark } from 'tidemark';
 * console.log(watermark(41_999).watermark); // 41999
 * ```
 */
export interface Watermark {
  readonly kind: 'watermark';
  readonly watermark: number;
}

/**
 * One element of a timed stream, produced by {@link eventTime} and
 * {@link windowBy}, consumed by {@link windowBy}, {@link records},
 * {@link watermarks}, {@link mapRecords} and {@link filterRecords}.
 *
 * @example
 * ```ts
 * import { isRecord, timedRecord, watermark, type Timed } from 'tidemark';
 * const items: Timed<string>[] = [timedRecord('a', 5), watermark(4)];
 * console.log(items.filter(isRecord).map((r) => r.value)); // ['a']
 * ```
 */
export type Timed<T> = TimedRecord<T> | Watermark;

class RecordElement<T> implements TimedRecord<T> {
  readonly kind = 'record' as const;
  constructor(
    readonly value: T,
    readonly timestamp: number,
  ) {}
}

class WatermarkElement implements Watermark {
  readonly kind = 'watermark' as const;
  constructor(readonly watermark: number) {}
}

/**
 * Makes a timed record, e.g. to feed {@link windowBy} from a source that is
 * already timestamped.
 *
 * @param value - the record's payload
 * @param timestamp - its event time in milliseconds
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { timedRecord, watermark, windowBy, tumbling, count, records } from 'tidemark';
 * from([timedRecord('x', 1), watermark(Number.POSITIVE_INFINITY)])
 *   .pipe(windowBy({ key: (v) => v, window: tumbling(10), aggregate: count() }), records())
 *   .subscribe((r) => console.log(r.value)); // 1
 * ```
 */
export function timedRecord<T>(value: T, timestamp: number): TimedRecord<T> {
  return new RecordElement(value, timestamp);
}

/**
 * Makes a watermark element.
 *
 * @param value - the event time up to which the stream is complete
 * @example
 * ```ts
 * import { watermark } from 'tidemark';
 * const end = watermark(Number.POSITIVE_INFINITY); // closes every window
 * console.log(end.kind); // watermark
 * ```
 */
export function watermark(value: number): Watermark {
  return new WatermarkElement(value);
}

/**
 * Narrows a timed element to a record.
 *
 * @example
 * ```ts
 * import { isRecord, timedRecord } from 'tidemark';
 * console.log(isRecord(timedRecord(1, 2))); // true
 * ```
 */
export function isRecord<T>(element: Timed<T>): element is TimedRecord<T> {
  return element.kind === 'record';
}

/**
 * Narrows a timed element to a watermark.
 *
 * @example
 * ```ts
 * import { isWatermark, watermark } from 'tidemark';
 * console.log(isWatermark(watermark(2))); // true
 * ```
 */
export function isWatermark<T>(element: Timed<T>): element is Watermark {
  return element.kind === 'watermark';
}
