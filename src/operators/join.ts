/**
 * `join`: an unwindowed join of two timed streams whose state expires.
 *
 * @module
 */
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import { describe, InvalidOptionError, type InvalidRecordError } from '../errors.js';
import { optionalFunction, requirePositive } from '../options.js';
import type { Timed } from '../time/timed.js';
import type { WindowKey } from '../windows/window-result.js';
import { intervalStateJoin } from './interval-state-join.js';
import {
  JOIN_COMMON,
  type Joined,
  refuseChangelog,
  validateJoinCommon,
} from './two-inputs.js';

/** Options of {@link join}. `RS` is what `select` receives as the right record: `R`, or `R | undefined` for a left-outer join. */
export interface JoinOptions<L, R, K extends WindowKey, O, RS = R> {
  /** The key of a left record (string or finite number); pairs need equal keys. */
  readonly leftKey: (value: L) => K;
  /** The key of a right record. */
  readonly rightKey: (value: R) => K;
  /**
   * How long (ms of event time) each record is kept after its own timestamp,
   * on both sides; > 0. Two records with equal keys meet when their
   * timestamps are less than `ttl` apart.
   */
  readonly ttl: number;
  /** `'left'`: a left record that met no right record is emitted once, with `right` `undefined`, when it expires. Default: inner join. */
  readonly outer?: 'left';
  /** Builds the output of a pair; default `{ left, right }` ({@link Joined}). */
  readonly select?: (left: L, right: RS) => O;
  /** Receives each record at or behind the combined watermark when it arrived; it joins nothing. */
  readonly late?: (value: L | R, timestamp: number, side: 'left' | 'right') => void;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Processing-time ms after which a silent input stops holding the watermark back; off by default. */
  readonly idleTimeout?: number;
  /** Clock for `idleTimeout`; default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Names this operator's state in pipeline snapshots; default `join#n`. */
  readonly id?: string;
}

const KNOWN = [...JOIN_COMMON, 'ttl', 'outer', 'select'] as const;

/** Snapshot of one join. @internal */
/**
 * Joins the left stream (the one piped) with `right$` on equal keys, without
 * windows, keeping each record for `ttl` ms of **event time** (the regular
 * join of Flink SQL with a state TTL, made deterministic): a record is kept
 * until the watermark reaches its timestamp plus `ttl`, then dropped, so
 * state is bounded by the records of the last `ttl` ms whatever the number
 * of keys. Two records with equal keys form a pair when their timestamps are
 * less than `ttl` apart (`|a.ts - b.ts| < ttl`), whatever order they arrive
 * in; each pair is emitted as soon as its second record arrives, stamped
 * `max(a.ts, b.ts)`.
 *
 * With `outer: 'left'`, a left record that met no right record is emitted
 * once, paired with `undefined`, when it expires; that row is stamped
 * `a.ts + ttl`, the moment the absence became certain. (Flink would emit it
 * at once and retract it on a match; rows here are never retracted.)
 *
 * The TTL is in event time, not processing time, so a replay gives the same
 * pairs. The watermark is the minimum of the two inputs' watermarks (with
 * `idleTimeout`, a silent input stops holding it back); a record at or
 * behind it is late: it goes to `late` and joins nothing. `stats()` counts
 * the records held per side and those expired.
 *
 * @param right$ - the right input, a timed stream
 * @param options - see {@link JoinOptions}
 * @throws {@link InvalidOptionError} at call time: no keys, `ttl <= 0`, `right$` not an Observable, …
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, join, records } from 'tidemark';
 * const DAY = 86_400_000;
 * const users = from([{ id: 1, name: 'ada', ts: 0 }]);
 * const orders = from([{ user: 1, ts: 2 * DAY }, { user: 2, ts: 3 * DAY }]);
 * orders
 *   .pipe(
 *     eventTime({ timestamp: (o) => o.ts, maxOutOfOrderness: 0 }),
 *     join(users.pipe(eventTime({ timestamp: (u) => u.ts, maxOutOfOrderness: 0 })), {
 *       leftKey: (o) => o.user,
 *       rightKey: (u) => u.id,
 *       ttl: 30 * DAY,
 *       outer: 'left',
 *     }),
 *     records(),
 *   )
 *   .subscribe(({ left, right }) => console.log(left.user, right?.name)); // 1 ada, then 2 undefined
 * ```
 * @see {@link intervalJoin}, {@link windowJoin}, {@link processByKey} for state of your own
 */
export function join<L, R, K extends WindowKey, O = Joined<L, R | undefined>>(
  right$: Observable<Timed<R>>,
  options: JoinOptions<L, R, K, O, R | undefined> & { readonly outer: 'left' },
): OperatorFunction<Timed<L>, Timed<O>>;
export function join<L, R, K extends WindowKey, O = Joined<L, R>>(
  right$: Observable<Timed<R>>,
  options: JoinOptions<L, R, K, O> & { readonly outer?: undefined },
): OperatorFunction<Timed<L>, Timed<O>>;
export function join<L, R, K extends WindowKey, O>(
  right$: Observable<Timed<R>>,
  options: JoinOptions<L, R, K, O, R | undefined>,
): OperatorFunction<Timed<L>, Timed<O>> {
  validateJoinCommon('join', options, KNOWN, right$);
  refuseChangelog('join', 'right$', right$);
  if (options.ttl === undefined)
    throw new InvalidOptionError(
      'join.ttl',
      'is required: how long (ms of event time) each record is kept; without it state would grow without bound. ' +
        'For pairs within a fixed interval use intervalJoin, within a window windowJoin',
    );
  requirePositive('join.ttl', options.ttl);
  if (options.outer !== undefined && options.outer !== 'left')
    throw new InvalidOptionError('join.outer', `expected 'left' or nothing (an inner join), got ${describe(options.outer)}`);
  optionalFunction('join.select', options.select);
  const { ttl } = options;
  const select = options.select ?? ((left: L, right: R | undefined) => ({ left, right }) as unknown as O);
  const outer = options.outer === 'left';

  return (left$) => {
    refuseChangelog('join', 'left input', left$);
    return intervalStateJoin<L, R, O, K>(
      'join',
      left$,
      right$,
      options,
      {
        lower: -ttl,
        upper: ttl,
        lowerExclusive: true,
        upperExclusive: true,
        select,
        unmatched: outer ? (left) => select(left, undefined) : undefined,
      },
      (s) => ({
        leftRecords: s.leftSize,
        rightRecords: s.rightSize,
        expiredRecords: s.purged,
        joined: s.joined,
        unmatched: s.unmatchedRows,
      }),
    );
  };
}
