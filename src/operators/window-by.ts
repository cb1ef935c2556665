/**
 * `windowBy`: keyed event-time windows with incremental aggregates.
 *
 * @module
 */
import { asyncScheduler, type OperatorFunction, type SchedulerLike, Subscription } from 'rxjs';
import { type Aggregate, NO_RETRACT } from '../aggregates/aggregate.js';
import { activeMode, registerState } from '../checkpoint/scope.js';
import { check, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import {
  optionalFunction,
  optionalId,
  optionalScheduler,
  rejectUnknown,
  requireFunction,
  requireNonNegative,
  requireObject,
  requirePositive,
  requirePositiveInteger,
} from '../options.js';
import type { Timed } from '../time/timed.js';
import { type EngineFactory, engineOf, type WindowAssigner } from '../windows/assigners.js';
import type { WindowChange } from '../windows/changelog.js';
import { type EngineConfig, isKey, type WindowEngine, type WindowKey, type WindowResult } from '../windows/window-result.js';
import { completeSink, connectTimed, isChangelogStream, TimedObservable } from './timed-observable.js';

/** Early (speculative) firings before a window's on-time pane. */
export interface EarlyFirings {
  /** Fire a (key, window) after every `count` records added to it. */
  readonly count?: number;
  /** Every `interval` ms of processing time, fire each (key, window) that changed since its last firing. */
  readonly interval?: number;
}

/** Options of {@link windowBy}. */
export interface WindowByOptions<T, K extends WindowKey, A, R> {
  /** Groups records; must return a string or a finite number. */
  readonly key: (value: T) => K;
  /** {@link tumbling}, {@link sliding} or {@link session}. */
  readonly window: WindowAssigner;
  /** {@link count}, {@link sum}, {@link min}, {@link max}, {@link avg} or a custom {@link aggregate}. */
  readonly aggregate: Aggregate<NoInfer<T>, A, R>; // T comes from the stream, not from e.g. count()'s `unknown`
  /**
   * How long (ms of event time) after the watermark passes a window's end it
   * keeps its state and accepts late records, each firing a `late` pane. Default 0.
   */
  readonly allowedLateness?: number;
  /** Receives each record that arrived after all its windows were closed (over a changelog, retractions too); it changes nothing. */
  readonly late?: (value: T, timestamp: number) => void;
  /** Early firings; off by default. */
  readonly early?: EarlyFirings;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Clock for `early.interval`; default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Names this operator's state in pipeline snapshots; default `windowBy#n`. */
  readonly id?: string;
  /**
   * Emit a changelog of {@link WindowChange}s instead of accumulating panes:
   * a window's first firing is an `insert`, each later one an
   * `update-before` of the previous row then an `update-after`; a session
   * span that a merge or growth supersedes gets a `delete`. Downstream
   * windowBy, topN and the view then take rows back instead of counting
   * them again. Default `false`. See {@link windowBy}.
   */
  readonly changelog?: boolean;
}

const KNOWN = [
  'key',
  'window',
  'aggregate',
  'allowedLateness',
  'late',
  'early',
  'invalid',
  'scheduler',
  'id',
  'changelog',
] as const;

function validate(o: WindowByOptions<never, WindowKey, unknown, unknown>): void {
  requireObject('windowBy', o);
  rejectUnknown('windowBy', o, KNOWN);
  requireFunction('windowBy.key', o.key, 'pass e.g. (e) => e.user returning a string or number');
  if (typeof o.window !== 'object' || o.window === null || engineOf(o.window) === undefined)
    throw new InvalidOptionError(
      'windowBy.window',
      `expected tumbling(size), sliding(size, slide) or session(gap), got ${describe(o.window)}`,
    );
  if (typeof o.aggregate !== 'object' || o.aggregate === null || typeof o.aggregate.add !== 'function')
    throw new InvalidOptionError(
      'windowBy.aggregate',
      `expected count(), sum(f), min(f), max(f), avg(f) or aggregate({ create, add, merge, result }), got ${describe(o.aggregate)}`,
    );
  if (o.allowedLateness !== undefined) requireNonNegative('windowBy.allowedLateness', o.allowedLateness);
  optionalFunction('windowBy.late', o.late);
  optionalFunction('windowBy.invalid', o.invalid);
  optionalId('windowBy.id', o.id);
  if (o.early !== undefined) {
    requireObject('windowBy.early', o.early);
    rejectUnknown('windowBy.early', o.early, ['count', 'interval']);
    if (o.early.count !== undefined) requirePositiveInteger('windowBy.early.count', o.early.count);
    if (o.early.interval !== undefined) requirePositive('windowBy.early.interval', o.early.interval);
  }
  optionalScheduler('windowBy.scheduler', o.scheduler);
  if (o.changelog !== undefined && typeof o.changelog !== 'boolean')
    throw new InvalidOptionError('windowBy.changelog', `expected true or false, got ${describe(o.changelog)}`);
}

/** Refuses, when the pipe is built, a window or aggregate that cannot consume a changelog. */
function requireRetractable(window: WindowAssigner, aggregate: Aggregate<never, unknown, unknown>): void {
  if (window.kind === 'session')
    throw new InvalidOptionError(
      'windowBy.window',
      'session windows cannot consume a changelog (this input comes from windowBy({ changelog: true })): ' +
        'a retracted row cannot split the session it merged; use tumbling(size) or sliding(size, slide) here, ' +
        'or drop `changelog: true` upstream and chain over on-time panes only',
    );
  if (typeof aggregate.retract === 'function') return;
  const alternative = (aggregate as { [NO_RETRACT]?: string })[NO_RETRACT];
  throw new InvalidOptionError(
    'windowBy.aggregate',
    'this input is a changelog (from windowBy({ changelog: true })), whose update-before and delete records ' +
      'must be taken back out, but the aggregate cannot retract: ' +
      (alternative ??
        'add retract(accumulator, value), the inverse of add, to aggregate({ create, add, merge, result, retract })'),
  );
}

/** Snapshot of one windowBy. @internal */
interface WindowByState {
  watermark: unknown;
  lateRecords: number;
  windows: unknown;
}

/**
 * Groups a timed stream by key into event-time windows and aggregates each
 * (key, window) incrementally. Produces a timed stream of
 * {@link WindowResult}s (each stamped with its window's last timestamp and
 * followed by the watermark), so results can be windowed again. By default
 * (accumulating mode) every pane is a record downstream, so chain over
 * on-time panes only: a count of early and on-time panes counts twice.
 *
 * With `changelog: true` it emits {@link WindowChange}s instead, each pane
 * taking the previous one back (`update-before`, then `update-after`), and a
 * superseded session span deleted; a downstream windowBy, {@link topN} and
 * the view apply them, so chains with early and late firings stay exact.
 * A windowBy whose input is a changelog subtracts `update-before` and
 * `delete` records with its aggregate's `retract`, and refuses, when the
 * pipe is built, an aggregate without one or session windows
 * ({@link InvalidOptionError}). Retractions are stamped like the rows they
 * take back, so they reach the same downstream windows; a retraction that
 * comes after its window was purged is late (give the downstream stage the
 * upstream's `allowedLateness` or more).
 *
 * Semantics (Flink's): a window `[start, end)` fires once **on-time** when
 * the watermark reaches `end - 1`; a record is **late** when all its windows
 * satisfy `end - 1 + allowedLateness <= watermark` (it goes to `late` and
 * changes nothing; without a `late` handler it is dropped and counted in the
 * snapshot's `lateRecords`); a record accepted into a window the watermark already
 * passed fires a **late** pane; `early.count`/`early.interval` add **early**
 * panes before the on-time one. Every pane carries the accumulated value.
 * State is purged once `watermark >= end - 1 + allowedLateness`. When the
 * input completes, every open window fires, then the output completes.
 *
 * @param options - see {@link WindowByOptions}
 * @throws {@link InvalidOptionError} at call time for invalid options; when
 *   applied to a changelog, for session windows or an aggregate without `retract`
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, tumbling, count, records } from 'tidemark';
 * const late: unknown[] = [];
 * from([{ user: 'a', ts: 1_000 }, { user: 'b', ts: 61_000 }, { user: 'a', ts: 2_000 }])
 *   .pipe(
 *     eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *     windowBy({ key: (e) => e.user, window: tumbling(60_000), aggregate: count(),
 *                late: (e) => late.push(e) }),
 *     records(),
 *   )
 *   .subscribe((r) => console.log(r.key, r.start, r.value, r.timing));
 * // a 0 1 on-time, then b 60000 1 on-time; { user: 'a', ts: 2000 } went to `late`
 * ```
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, tumbling, count, sum, records } from 'tidemark';
 * // per-user counts per 10 ms with an early pane per record, then their total per 100 ms:
 * // the changelog takes each early pane back, so the total counts every click once
 * from([{ user: 'a', ts: 1 }, { user: 'a', ts: 2 }, { user: 'b', ts: 15 }])
 *   .pipe(
 *     eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
 *     windowBy({ key: (e) => e.user, window: tumbling(10), aggregate: count(), early: { count: 1 }, changelog: true }),
 *     windowBy({ key: () => 'all', window: tumbling(100), aggregate: sum((r) => r.value) }),
 *     records(),
 *   )
 *   .subscribe((r) => console.log(r.value)); // 3
 * ```
 * @see {@link eventTime}, {@link records}, {@link tumbling}, {@link sliding}, {@link session}, {@link WindowChange}
 */
export function windowBy<T, K extends WindowKey, A, R>(
  options: WindowByOptions<T, K, A, R> & { readonly changelog: true },
): OperatorFunction<Timed<T>, Timed<WindowChange<K, R>>>;
export function windowBy<T, K extends WindowKey, A, R>(
  options: WindowByOptions<T, K, A, R>,
): OperatorFunction<Timed<T>, Timed<WindowResult<K, R>>>;
export function windowBy<T, K extends WindowKey, A, R>(
  options: WindowByOptions<T, K, A, R>,
): OperatorFunction<Timed<T>, Timed<WindowResult<K, R>>> {
  validate(options as unknown as WindowByOptions<never, WindowKey, unknown, unknown>);
  const { key: keyOf, window, aggregate, late, invalid, early, id } = options;
  const allowedLateness = options.allowedLateness ?? 0;
  const interval = early?.interval;
  const scheduler = options.scheduler ?? asyncScheduler;
  const changelog = options.changelog ?? false;

  return (source) => {
    // Known when the pipe is built: refuse now what could not take a retraction back.
    const retractions = isChangelogStream(source);
    if (retractions) requireRetractable(window, aggregate as Aggregate<never, unknown, unknown>);
    return new TimedObservable<WindowResult<K, R>>((sink, subscriber) => {
      // A batch run (RunOptions.mode) fires each window once, complete, at the end: no early panes.
      const batch = activeMode() === 'batch';
      const config: EngineConfig<T, K, A, R> = {
        aggregate,
        allowedLateness,
        earlyCount: batch ? 0 : (early?.count ?? 0),
        trackDirty: interval !== undefined && !batch,
        changelog,
        retractions,
        // Stamped with the window's last timestamp, so that a downstream
        // windowBy receives a result before the watermark that closes it.
        emit: (result, timestamp) => sink.record(result, timestamp),
      };
      const engine: WindowEngine<T, K> = (engineOf(window) as EngineFactory)(config);
      let wm = Number.NEGATIVE_INFINITY;
      let lateRecords = 0;
      let invalidRecords = 0;
      registerState('windowBy', id, {
        snapshot: (): WindowByState => ({ watermark: encodeTime(wm), lateRecords, windows: engine.snapshot() }),
        restore(state) {
          const s = state as Partial<WindowByState> | null;
          check(typeof s === 'object' && s !== null, 'windowBy', 'state is not an object');
          wm = decodeTime(s.watermark, 'windowBy.watermark');
          lateRecords = typeof s.lateRecords === 'number' ? s.lateRecords : 0;
          engine.restore(s.windows, wm);
        },
        stats: () => ({ watermark: wm, openWindows: engine.openWindows(), lateRecords, invalidRecords, allowedLateness }),
      });

      const subscription = new Subscription();
      if (interval !== undefined && !batch)
        subscription.add(
          scheduler.schedule(function tick() {
            if (subscriber.closed) return;
            try {
              engine.fireChanged(wm);
            } catch (err) {
              sink.error(err);
              return;
            }
            this.schedule(undefined, interval);
          }, interval),
        );

      const advance = (next: number) => {
        if (!(next > wm)) return; // watermarks never go back; repeats change nothing
        wm = next;
        engine.advance(next);
        sink.watermark(next);
      };
      subscription.add(
        connectTimed(
          source,
          {
            record(value, timestamp) {
              const k = keyOf(value);
              if (!isKey(k)) {
                const error = new InvalidRecordError(
                  `windowBy: key(record) returned ${describe(k)}; keys must be strings or finite numbers ` +
                    '(fix the key function, or pass `invalid` to skip such records)',
                  value,
                );
                invalidRecords++;
                if (invalid) invalid(error);
                else sink.error(error);
                return;
              }
              let accepted: boolean;
              if (retractions) {
                const kind = (value as { kind?: unknown } | null)?.kind;
                if (kind === 'update-before' || kind === 'delete') accepted = engine.retract(value, timestamp, k, wm);
                else if (kind === 'insert' || kind === 'update-after') accepted = engine.add(value, timestamp, k, wm);
                else {
                  sink.error(
                    new InvalidRecordError(
                      `windowBy: this input is a changelog (from windowBy({ changelog: true })) but a record has kind ${describe(kind)}; ` +
                        "expected 'insert', 'update-before', 'update-after' or 'delete' (a mapRecords in between must keep `kind`: (r) => ({ ...r, … }))",
                      value,
                    ),
                  );
                  return;
                }
              } else accepted = engine.add(value, timestamp, k, wm);
              if (!accepted) {
                lateRecords++;
                late?.(value, timestamp);
              }
            },
            watermark: advance,
            error: (err) => sink.error(err),
            complete() {
              advance(Number.POSITIVE_INFINITY);
              completeSink(sink);
            },
          },
          subscriber,
          'windowBy',
        ),
      );
      return subscription;
    }, changelog);
  };
}
