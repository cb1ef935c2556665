/**
 * `intervalJoin`: joins two timed streams on a key and a time interval.
 *
 * @module
 */
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import { describe, InvalidOptionError, type InvalidRecordError } from '../errors.js';
import { optionalFunction } from '../options.js';
import type { Timed } from '../time/timed.js';
import type { WindowKey } from '../windows/window-result.js';
import { intervalStateJoin } from './interval-state-join.js';
import {
  JOIN_COMMON,
  type Joined,
  refuseChangelog,
  pair,
  validateJoinCommon,
} from './two-inputs.js';

/** Options of {@link intervalJoin}. */
export interface IntervalJoinOptions<L, R, K extends WindowKey, O> {
  /** The key of a left record (string or finite number); pairs need equal keys. */
  readonly leftKey: (value: L) => K;
  /** The key of a right record. */
  readonly rightKey: (value: R) => K;
  /** Least `right.ts - left.ts` of a pair, ms (may be negative). */
  readonly lower: number;
  /** Greatest `right.ts - left.ts` of a pair, ms; `>= lower`. */
  readonly upper: number;
  /** Excludes `right.ts - left.ts === lower`. Default `false` (inclusive, as Flink). */
  readonly lowerExclusive?: boolean;
  /** Excludes `right.ts - left.ts === upper`. Default `false`. */
  readonly upperExclusive?: boolean;
  /** Builds the output of a pair; default `{ left, right }` ({@link Joined}). */
  readonly select?: (left: L, right: R) => O;
  /** Receives each record at or behind the combined watermark when it arrived; it joins nothing. Without it, such records are dropped and counted in `stats().lateRecords`. */
  readonly late?: (value: L | R, timestamp: number, side: 'left' | 'right') => void;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Processing-time ms after which a silent input stops holding the watermark back; off by default. */
  readonly idleTimeout?: number;
  /** Clock for `idleTimeout`; default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Names this operator's state in pipeline snapshots; default `intervalJoin#n`. */
  readonly id?: string;
}

const KNOWN = [...JOIN_COMMON, 'lower', 'upper', 'lowerExclusive', 'upperExclusive', 'select'] as const;

/** Snapshot of one intervalJoin. @internal */
function requireBound(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new InvalidOptionError(option, `must be a finite number of milliseconds (negative allowed), got ${describe(value)}`);
}

function requireBoolean(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean')
    throw new InvalidOptionError(option, `expected true or false, got ${describe(value)}`);
}

/**
 * Joins the left stream (the one piped) with `right$` on equal keys and a
 * time interval, with Flink's `intervalJoin` semantics: a left record `a`
 * and a right record `b` with the same key form a pair when
 * `a.ts + lower <= b.ts <= a.ts + upper`. Each pair is emitted as soon as
 * its second record arrives, stamped `max(a.ts, b.ts)`, so it is never
 * behind the watermark.
 *
 * The watermark is the minimum of the two inputs' watermarks (with
 * `idleTimeout`, a silent input stops holding it back), as per-source
 * watermarks are. A record at or behind it is late: it goes to `late`
 * and joins nothing. A left record can match nothing once the watermark
 * reaches `a.ts + upper`, a right one once it reaches `b.ts - lower`; each
 * side then drops it, in arrival order (a dead record behind a live one
 * waits at most the input's disorder), so state stays bounded by the
 * interval and the disorder. Each input must be a timed stream (after
 * {@link eventTime}). The output completes once both inputs complete.
 *
 * @param right$ - the right input, a timed stream
 * @param options - see {@link IntervalJoinOptions}
 * @throws {@link InvalidOptionError} at call time: no keys, `lower > upper`, `right$` not an Observable, …
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, intervalJoin, records } from 'tidemark';
 * const orders = from([{ id: 1, ts: 1_000 }, { id: 2, ts: 2_000 }]);
 * const payments = from([{ order: 1, ts: 4_000 }, { order: 2, ts: 90_000 }]);
 * orders
 *   .pipe(
 *     eventTime({ timestamp: (o) => o.ts, maxOutOfOrderness: 0 }),
 *     intervalJoin(payments.pipe(eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 0 })), {
 *       leftKey: (o) => o.id,
 *       rightKey: (p) => p.order,
 *       lower: 0,
 *       upper: 60_000, // paid within a minute
 *     }),
 *     records(),
 *   )
 *   .subscribe(({ left, right }) => console.log(left.id, right.ts)); // 1 4000
 * ```
 * @see {@link windowJoin}, {@link join}, {@link eventTime}
 */
export function intervalJoin<L, R, K extends WindowKey, O = Joined<L, R>>(
  right$: Observable<Timed<R>>,
  options: IntervalJoinOptions<L, R, K, O>,
): OperatorFunction<Timed<L>, Timed<O>> {
  validateJoinCommon('intervalJoin', options, KNOWN, right$);
  refuseChangelog('intervalJoin', 'right$', right$);
  requireBound('intervalJoin.lower', options.lower);
  requireBound('intervalJoin.upper', options.upper);
  if (options.lower > options.upper)
    throw new InvalidOptionError(
      'intervalJoin.lower',
      `must be <= upper, got lower ${options.lower} > upper ${options.upper}: no pair could ever match; ` +
        'the bounds are right.ts - left.ts, so swap them or swap the inputs',
    );
  requireBoolean('intervalJoin.lowerExclusive', options.lowerExclusive);
  requireBoolean('intervalJoin.upperExclusive', options.upperExclusive);
  optionalFunction('intervalJoin.select', options.select);
  const select = options.select ?? (pair as unknown as (left: L, right: R) => O);

  return (left$) => {
    refuseChangelog('intervalJoin', 'left input', left$);
    return intervalStateJoin<L, R, O, K>(
      'intervalJoin',
      left$,
      right$,
      options,
      {
        lower: options.lower,
        upper: options.upper,
        lowerExclusive: options.lowerExclusive ?? false,
        upperExclusive: options.upperExclusive ?? false,
        select,
      },
      (s) => ({
        leftRecords: s.leftSize,
        rightRecords: s.rightSize,
        purgedRecords: s.purged,
        joined: s.joined,
      }),
    );
  };
}
