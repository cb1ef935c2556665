/**
 * `countWindowBy`: keyed count windows with incremental aggregates.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import type { Aggregate } from '../aggregates/aggregate.js';
import { registerState } from '../checkpoint/scope.js';
import { check, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import { optionalFunction, optionalId, rejectUnknown, requireFunction, requireObject, requirePositive } from '../options.js';
import type { Timed } from '../time/timed.js';
import { CountWindowEngine, type CountWindowResult, type CountWindows } from '../windows/count-windows.js';
import { isKey, type WindowKey } from '../windows/window-result.js';
import { completeSink, connectTimed, TimedObservable } from './timed-observable.js';
import { refuseChangelog } from './two-inputs.js';

/** Options of {@link countWindowBy}. */
export interface CountWindowByOptions<T, K extends WindowKey, A, R> {
  /** Groups records; must return a string or a finite number. */
  readonly key: (value: T) => K;
  /** {@link countWindow}`(size)` or `countWindow(size, slide)`. */
  readonly window: CountWindows;
  /** {@link count}, {@link sum}, {@link min}, {@link max}, {@link avg} or a custom {@link aggregate}. */
  readonly aggregate: Aggregate<NoInfer<T>, A, R>;
  /**
   * Forgets a key (its partial window and its count) once the watermark is
   * `ttl` ms of event time past its newest record, so state stays bounded
   * when keys come and go. Default: kept forever.
   */
  readonly ttl?: number;
  /** Receives each record at or behind the watermark when it arrived; it counts in no window. */
  readonly late?: (value: T, timestamp: number) => void;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Names this operator's state in pipeline snapshots; default `countWindowBy#n`. */
  readonly id?: string;
}

const KNOWN = ['key', 'window', 'aggregate', 'ttl', 'late', 'invalid', 'id'] as const;

/** Snapshot of one countWindowBy. @internal */
interface CountWindowByState {
  watermark: unknown;
  lateRecords: number;
  windows: unknown;
}

/**
 * Groups a timed stream by key into count windows ({@link countWindow}) and
 * aggregates each: "the last 100 transactions of a user". Produces a timed
 * stream of {@link CountWindowResult}s, each stamped with the timestamp of
 * its newest record and followed by the watermark.
 *
 * Records count in **event-time order**: a record waits until the watermark
 * passes its timestamp, then joins its key's windows in timestamp order
 * (ties in arrival order). A window therefore holds the same records
 * whatever their arrival order within the bound, and a batch run agrees
 * with the stream; the price is latency: a window fires when the watermark
 * passes its newest record, not when that record arrives. (Flink's count
 * windows count in arrival order instead.) A record at or behind the
 * watermark when it arrives is late: it goes to `late` and counts nowhere.
 * `countWindow(n)` fires every `n` records with them; `countWindow(n, s)`
 * every `s` records with the last `n` (fewer at first). A window still
 * short of `n` records when the input completes never fires, as in Flink.
 * Each key keeps at most `n / gcd(n, s)` accumulators; with `ttl` a key
 * silent for that long in event time is forgotten (its count restarts).
 *
 * @param options - see {@link CountWindowByOptions}
 * @throws {@link InvalidOptionError} at call time for invalid options
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, countWindowBy, countWindow, avg, records } from 'tidemark';
 * const payments = [5, 7, 9, 11].map((amount, i) => ({ user: 'u1', amount, ts: i * 1_000 }));
 * from(payments)
 *   .pipe(
 *     eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 0 }),
 *     countWindowBy({ key: (p) => p.user, window: countWindow(3, 1), aggregate: avg((p) => p.amount) }),
 *     records(),
 *   )
 *   .subscribe((r) => console.log(r.count, r.value)); // 1 5, 2 6, 3 7, 3 9
 * ```
 * @see {@link countWindow}, {@link windowBy}
 */
export function countWindowBy<T, K extends WindowKey, A, R>(
  options: CountWindowByOptions<T, K, A, R>,
): OperatorFunction<Timed<T>, Timed<CountWindowResult<K, R>>> {
  requireObject('countWindowBy', options);
  rejectUnknown('countWindowBy', options, KNOWN);
  requireFunction('countWindowBy.key', options.key, 'pass e.g. (e) => e.user returning a string or number');
  const w = options.window as Partial<CountWindows> | null;
  if (typeof w !== 'object' || w === null || w.kind !== 'count')
    throw new InvalidOptionError('countWindowBy.window', `expected countWindow(size) or countWindow(size, slide), got ${describe(options.window)}; for time windows use windowBy`);
  const agg = options.aggregate as Partial<Aggregate<T, A, R>> | null;
  if (typeof agg !== 'object' || agg === null || typeof agg.add !== 'function')
    throw new InvalidOptionError(
      'countWindowBy.aggregate',
      `expected count(), sum(f), min(f), max(f), avg(f) or aggregate({ create, add, merge, result }), got ${describe(options.aggregate)}`,
    );
  if (options.ttl !== undefined) requirePositive('countWindowBy.ttl', options.ttl);
  optionalFunction('countWindowBy.late', options.late);
  optionalFunction('countWindowBy.invalid', options.invalid);
  optionalId('countWindowBy.id', options.id);
  const { key: keyOf, window, aggregate, late, invalid, id } = options;
  const ttl = options.ttl ?? Number.POSITIVE_INFINITY;

  return (source) => {
    refuseChangelog('countWindowBy', 'input', source);
    return new TimedObservable<CountWindowResult<K, R>>((sink, subscriber) => {
      const engine = new CountWindowEngine<T, K, A, R>(window, aggregate, ttl, (r, ts) => sink.record(r, ts));
      let wm = Number.NEGATIVE_INFINITY;
      let lateRecords = 0;
      let invalidRecords = 0;
      registerState('countWindowBy', id, {
        snapshot: (): CountWindowByState => ({ watermark: encodeTime(wm), lateRecords, windows: engine.snapshot() }),
        restore(state) {
          const s = state as Partial<CountWindowByState> | null;
          check(typeof s === 'object' && s !== null, 'countWindowBy', 'state is not an object');
          wm = decodeTime(s.watermark, 'countWindowBy.watermark');
          lateRecords = typeof s.lateRecords === 'number' ? s.lateRecords : 0;
          engine.restore(s.windows, 'countWindowBy.windows');
        },
        stats: () => ({
          watermark: wm,
          keys: engine.openKeys,
          pendingRecords: engine.pendingRecords,
          expiredKeys: engine.expiredKeys,
          lateRecords,
          invalidRecords,
        }),
      });
      const advance = (next: number) => {
        if (!(next > wm)) return;
        wm = next;
        engine.advance(next);
        sink.watermark(next);
      };
      return connectTimed(
        source,
        {
          record(value, timestamp) {
            if (timestamp <= wm) {
              lateRecords++;
              late?.(value, timestamp);
              return;
            }
            const k = keyOf(value);
            if (!isKey(k)) {
              invalidRecords++;
              const error = new InvalidRecordError(
                `countWindowBy: key(record) returned ${describe(k)}; keys must be strings or finite numbers ` +
                  '(fix the key function, or pass `invalid` to skip such records)',
                value,
              );
              if (invalid) invalid(error);
              else sink.error(error);
              return;
            }
            engine.add(value, timestamp, k);
          },
          watermark: advance,
          error: (err) => sink.error(err),
          complete() {
            advance(Number.POSITIVE_INFINITY);
            completeSink(sink);
          },
        },
        subscriber,
        'countWindowBy',
      );
    });
  };
}
