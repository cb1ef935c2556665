/**
 * Operator fusion for timed streams (internal).
 *
 * A pipe such as `eventTime() → windowBy() → records()` would allocate two
 * objects per event (a record and a watermark element) and pay three RxJS
 * `next` hops. Instead, each timed operator returns a {@link TimedObservable}
 * which, besides being an ordinary `Observable<Timed<T>>`, can be *connected*
 * to a downstream {@link TimedSink}: adjacent timed operators then push
 * `(value, timestamp)` pairs and watermark numbers to each other directly.
 * The semantics are identical either way; an ordinary RxJS operator placed in
 * between simply falls back to element objects.
 *
 * @internal
 * @module
 */
import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import { describe, InvalidRecordError } from '../errors.js';
import type { TimedSink } from '../time/sink.js';
import { type Timed, timedRecord, watermark } from '../time/timed.js';

export type { TimedSink };

/**
 * Connects an operator to its downstream sink. `subscriber` is the RxJS
 * subscriber at the end of the fused chain: once it is closed (unsubscribed,
 * errored or completed) the head of the chain stops forwarding, because a
 * synchronous source keeps looping until its subscribe call returns, before
 * any teardown can run.
 */
type Connect<T> = (sink: TimedSink<T>, subscriber: Subscriber<unknown>) => TeardownLogic;

/** An `Observable<Timed<T>>` that can also be fused with a downstream timed operator. @internal */
export class TimedObservable<T> extends Observable<Timed<T>> {
  readonly connect: Connect<T>;
  /**
   * Its records are a changelog (`windowBy({ changelog: true })`, and
   * `filterRecords`/`mapRecords` after one): a consumer must take
   * `update-before` and `delete` records back. Known when the pipe is
   * built, so that a consumer that cannot refuses then, not mid-stream.
   */
  readonly changelog: boolean;
  constructor(connect: Connect<T>, changelog = false) {
    super((subscriber) => connect(elementSink(subscriber), subscriber));
    this.connect = connect;
    this.changelog = changelog;
  }
}

/** Whether `source` is a changelog stream (see {@link TimedObservable.changelog}). @internal */
export function isChangelogStream(source: Observable<unknown>): boolean {
  return source instanceof TimedObservable && source.changelog;
}

function elementSink<T>(subscriber: Subscriber<Timed<T>>): TimedSink<T> {
  return {
    record: (value, timestamp) => subscriber.next(timedRecord(value, timestamp)),
    watermark: (value) => subscriber.next(watermark(value)),
    error: (err) => subscriber.error(err),
    complete: () => subscriber.complete(),
  };
}

/**
 * Feeds `sink` from a timed source: directly when the source is a fused
 * timed operator, otherwise by unpacking its element objects.
 */
export function connectTimed<T>(
  source: Observable<Timed<T>>,
  sink: TimedSink<T>,
  subscriber: Subscriber<unknown>,
  operatorName: string,
): TeardownLogic {
  if (source instanceof TimedObservable) return (source as TimedObservable<T>).connect(sink, subscriber);
  return source.subscribe({
    next(element) {
      if (subscriber.closed) return;
      const kind = (element as Partial<Timed<T>> | null)?.kind;
      try {
        if (kind === 'record' && Number.isFinite((element as { timestamp: unknown }).timestamp))
          sink.record((element as { value: T }).value, (element as { timestamp: number }).timestamp);
        else if (kind === 'watermark' && !Number.isNaN((element as { watermark: unknown }).watermark))
          sink.watermark((element as { watermark: number }).watermark);
        else
          sink.error(
            new InvalidRecordError(
              `${operatorName} expects a timed stream of records (with finite timestamps) and watermarks but received ${describe(element)}; ` +
                'did you forget to put eventTime({ timestamp, maxOutOfOrderness }) before it?',
              element,
            ),
          );
      } catch (err) {
        // A user function (key, aggregate, handler) threw: fail the stream, as RxJS operators do.
        sink.error(err);
      }
    },
    error: (err) => sink.error(err),
    complete: () => completeSink(sink),
  });
}

/** Completes `sink`; a user function throwing during the final firings fails the stream instead. */
export function completeSink(sink: TimedSink<unknown>): void {
  try {
    sink.complete();
  } catch (err) {
    sink.error(err);
  }
}
