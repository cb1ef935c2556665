/**
 * `windowJoin`: joins two timed streams on a key within the same window.
 *
 * @module
 */
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import type { Aggregate } from '../aggregates/aggregate.js';
import { registerState } from '../checkpoint/scope.js';
import { check } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, type InvalidRecordError } from '../errors.js';
import { optionalFunction } from '../options.js';
import type { Timed } from '../time/timed.js';
import { type EngineFactory, engineOf, type WindowAssigner, type WindowSpan } from '../windows/assigners.js';
import type { WindowEngine, WindowKey } from '../windows/window-result.js';
import { TimedObservable } from './timed-observable.js';
import {
  connectTwoInputs,
  JOIN_COMMON,
  type Joined,
  keyOrReport,
  refuseChangelog,
  twoInputMultiplexer,
  validateJoinCommon,
} from './two-inputs.js';

/** Options of {@link windowJoin}. */
export interface WindowJoinOptions<L, R, K extends WindowKey, O> {
  /** The key of a left record (string or finite number); pairs need equal keys. */
  readonly leftKey: (value: L) => K;
  /** The key of a right record. */
  readonly rightKey: (value: R) => K;
  /** {@link tumbling}, {@link sliding} or {@link session}: pairs share a window. */
  readonly window: WindowAssigner;
  /** Builds the output of a pair in a window; default `{ left, right }` ({@link Joined}). */
  readonly select?: (left: L, right: R, window: WindowSpan) => O;
  /** Receives each record all of whose windows had fired when it arrived; it joins nothing. */
  readonly late?: (value: L | R, timestamp: number, side: 'left' | 'right') => void;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Processing-time ms after which a silent input stops holding the watermark back; off by default. */
  readonly idleTimeout?: number;
  /** Clock for `idleTimeout`; default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Names this operator's state in pipeline snapshots; default `windowJoin#n`. */
  readonly id?: string;
}

const KNOWN = [...JOIN_COMMON, 'window', 'select'] as const;

/** One side's record, as the window engine holds it. */
interface Tagged<L, R> {
  readonly left: boolean;
  readonly value: L | R;
}

/** A window's records of both sides, in arrival order. @internal */
interface Sides<L, R> {
  left: L[];
  right: R[];
}

function collect<L, R>(): Aggregate<Tagged<L, R>, Sides<L, R>, Sides<L, R>> {
  return {
    create: () => ({ left: [], right: [] }),
    add(acc, t) {
      if (t.left) acc.left.push(t.value as L);
      else acc.right.push(t.value as R);
      return acc;
    },
    // Sessions merge: the earlier session's records first.
    merge: (a, b) => ({ left: a.left.concat(b.left), right: a.right.concat(b.right) }),
    result: (acc) => acc,
  };
}

/** Snapshot of one windowJoin. @internal */
interface WindowJoinState {
  watermark: unknown;
  lateRecords: number;
  windows: unknown;
}

/**
 * Joins the left stream (the one piped) with `right$`: every left and right
 * record with equal keys in the same window form a pair, emitted when the
 * window fires (Flink's window join). Windows are those of {@link windowBy}:
 * {@link tumbling} and {@link sliding} windows fire when the watermark
 * reaches `end - 1`, and pairs are stamped `end - 1`; {@link session}
 * windows are formed by the records of **both** sides of a key, fire when
 * the watermark reaches `end`, and pairs are stamped `end`. A pair in
 * several sliding windows is emitted once per window. A window with records
 * on one side only emits nothing (an inner join).
 *
 * The watermark is the minimum of the two inputs' watermarks (with
 * `idleTimeout`, a silent input stops holding it back). A record all of
 * whose windows had fired when it arrived is late: it goes to `late` and
 * joins nothing. State is one list of records per side per (key, window),
 * dropped when the window fires. Pairs of a window come out left records in
 * arrival order, each with every right record in arrival order.
 *
 * @param right$ - the right input, a timed stream
 * @param options - see {@link WindowJoinOptions}
 * @throws {@link InvalidOptionError} at call time: no keys, no window, `right$` not an Observable, …
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowJoin, tumbling, records } from 'tidemark';
 * const views = from([{ ad: 'a', ts: 1_000 }, { ad: 'b', ts: 2_000 }]);
 * const clicks = from([{ ad: 'a', ts: 5_000 }, { ad: 'b', ts: 70_000 }]);
 * views
 *   .pipe(
 *     eventTime({ timestamp: (v) => v.ts, maxOutOfOrderness: 0 }),
 *     windowJoin(clicks.pipe(eventTime({ timestamp: (c) => c.ts, maxOutOfOrderness: 0 })), {
 *       leftKey: (v) => v.ad,
 *       rightKey: (c) => c.ad,
 *       window: tumbling(60_000),
 *       select: (v, c, w) => `${v.ad} clicked in [${w.start}, ${w.end})`,
 *     }),
 *     records(),
 *   )
 *   .subscribe((s) => console.log(s)); // a clicked in [0, 60000)
 * ```
 * @see {@link intervalJoin}, {@link join}, {@link windowBy}
 */
export function windowJoin<L, R, K extends WindowKey, O = Joined<L, R>>(
  right$: Observable<Timed<R>>,
  options: WindowJoinOptions<L, R, K, O>,
): OperatorFunction<Timed<L>, Timed<O>> {
  validateJoinCommon('windowJoin', options, KNOWN, right$);
  refuseChangelog('windowJoin', 'right$', right$);
  const factory = typeof options.window === 'object' && options.window !== null ? engineOf(options.window) : undefined;
  if (factory === undefined)
    throw new InvalidOptionError(
      'windowJoin.window',
      `expected tumbling(size), sliding(size, slide) or session(gap), got ${describe(options.window)}`,
    );
  optionalFunction('windowJoin.select', options.select);
  const { leftKey, rightKey, late, invalid, id } = options;
  const select = options.select ?? ((left: L, right: R) => ({ left, right }) as unknown as O);

  return (left$) => {
    refuseChangelog('windowJoin', 'left input', left$);
    return new TimedObservable<O>((sink, subscriber) => {
      let joined = 0;
      const engine: WindowEngine<Tagged<L, R>, K> = (factory as EngineFactory)({
        aggregate: collect<L, R>(),
        allowedLateness: 0,
        earlyCount: 0,
        trackDirty: false,
        // Pairs are final: a window fires once, on time, and is never taken back.
        changelog: false,
        retractions: false,
        emit(result, timestamp) {
          const { left, right } = result.value;
          if (left.length === 0 || right.length === 0) return;
          const span: WindowSpan = { start: result.start, end: result.end };
          for (const l of left)
            for (const r of right) {
              joined++;
              sink.record(select(l, r, span), timestamp);
            }
        },
      });
      const mux = twoInputMultiplexer();
      let lateRecords = 0;
      let invalidRecords = 0;
      registerState('windowJoin', id, {
        snapshot: (): WindowJoinState => ({ watermark: mux.snapshot(), lateRecords, windows: engine.snapshot() }),
        restore(saved) {
          const s = saved as Partial<WindowJoinState> | null;
          check(typeof s === 'object' && s !== null, 'windowJoin', 'state is not an object');
          mux.restore(s.watermark, 'windowJoin.watermark');
          lateRecords = typeof s.lateRecords === 'number' ? s.lateRecords : 0;
          engine.restore(s.windows, mux.current);
        },
        stats: () => ({ watermark: mux.current, openWindows: engine.openWindows(), joined, lateRecords, invalidRecords }),
      });
      const fail = (err: unknown) => sink.error(err);
      const add = (isLeft: boolean, key: K | undefined, value: L | R, timestamp: number, wm: number) => {
        if (key === undefined) {
          invalidRecords++;
          return;
        }
        if (!engine.add({ left: isLeft, value }, timestamp, key, wm)) {
          lateRecords++;
          late?.(value, timestamp, isLeft ? 'left' : 'right');
        }
      };
      return connectTwoInputs<L, R, O>(
        'windowJoin',
        left$,
        right$,
        mux,
        {
          left: (value, timestamp, wm) => add(true, keyOrReport('windowJoin', 'left', leftKey, value, invalid, fail), value, timestamp, wm),
          right: (value, timestamp, wm) => add(false, keyOrReport('windowJoin', 'right', rightKey, value, invalid, fail), value, timestamp, wm),
          advance: (wm) => engine.advance(wm),
        },
        options,
        sink,
        subscriber,
      );
    });
  };
}
