/**
 * `processByKey`: your own stateful step, with one state per key that expires.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { registerState } from '../checkpoint/scope.js';
import { check, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import { optionalFunction, optionalId, rejectUnknown, requireFunction, requireObject, requirePositive } from '../options.js';
import { KeyedTtlState } from '../state/keyed-ttl-state.js';
import type { Timed } from '../time/timed.js';
import { isKey, type WindowKey } from '../windows/window-result.js';
import { completeSink, connectTimed, TimedObservable } from './timed-observable.js';
import { refuseChangelog } from './two-inputs.js';

/** What {@link ProcessByKeyOptions.process} and `expire` can see and do. */
export interface KeyContext<K, O> {
  /** The key whose state this is. */
  readonly key: K;
  /** The record's timestamp (for `expire`: when the state expired, `written + ttl`). */
  readonly timestamp: number;
  /** The watermark before this record (for `expire`: the one that expired it). */
  readonly watermark: number;
  /** Emits an output record, stamped `timestamp`. */
  emit(value: O): void;
}

/** Options of {@link processByKey}. */
export interface ProcessByKeyOptions<T, K extends WindowKey, S, O> {
  /** Groups records; must return a string or a finite number. */
  readonly key: (value: T) => K;
  /**
   * How long (ms of event time) a key's state lives after the newest record
   * that wrote it; > 0. Required: state nothing expires grows without bound.
   */
  readonly ttl: number;
  /**
   * Called for each record with its key's state (`undefined` when the key
   * has none, or it expired); returns the new state, or `undefined` to drop
   * it. Returning a state writes it, which extends its life to
   * `timestamp + ttl`. The state must be plain structured-cloneable data
   * (snapshots copy it); it may be mutated and returned.
   */
  readonly process: (state: S | undefined, value: T, context: KeyContext<K, O>) => S | undefined;
  /** Called once for each state that expires, before the watermark that expired it is forwarded; it may emit. */
  readonly expire?: (state: S, context: KeyContext<K, O>) => void;
  /** Receives records whose key is not a string or finite number (they are skipped). Without it, such a record errors the stream. */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Names this operator's state in pipeline snapshots; default `processByKey#n`. */
  readonly id?: string;
}

const KNOWN = ['key', 'ttl', 'process', 'expire', 'invalid', 'id'] as const;

/** Snapshot of one processByKey. @internal */
interface ProcessByKeyState {
  watermark: unknown;
  keys: unknown;
}

/**
 * A custom stateful step over a timed stream: one state per key, handed to
 * `process` with each record, and dropped `ttl` ms of **event time** after
 * the newest record that wrote it (Flink's keyed state with a TTL, updated on
 * create and write, never returning expired state). A state written at `w`
 * expires when the watermark reaches `w + ttl`, or when a record of its key
 * stamped `w + ttl` or later arrives first (that record starts afresh), so
 * whether a record sees a state depends on timestamps, not on how far the
 * watermark lagged; `expire` (if given) sees each state last. So a step over an endless stream of fresh keys holds only the keys
 * of the last `ttl` ms, and it snapshots and restores with the pipeline like
 * every other stateful operator.
 *
 * Records are processed in arrival order, late ones included; what
 * `process` emits is stamped with the record's timestamp, what `expire`
 * emits with the expiry time. Watermarks are forwarded. `stats()` counts
 * live keys and expired ones.
 *
 * @param options - see {@link ProcessByKeyOptions}
 * @throws {@link InvalidOptionError} at call time: no `key`, `ttl <= 0`, no `process`, …
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, processByKey, records } from 'tidemark';
 * // Flags a card's payment more than 3× its running average; forgets cards idle for a day.
 * const payments = [{ card: 'c1', amount: 10, ts: 0 }, { card: 'c1', amount: 50, ts: 1_000 }];
 * from(payments)
 *   .pipe(
 *     eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 0 }),
 *     processByKey({
 *       key: (p) => p.card,
 *       ttl: 86_400_000,
 *       process: (s: { n: number; total: number } | undefined, p, ctx) => {
 *         const st = s ?? { n: 0, total: 0 };
 *         if (st.n > 0 && p.amount > (3 * st.total) / st.n) ctx.emit(`${ctx.key}: ${p.amount} is unusual`);
 *         return { n: st.n + 1, total: st.total + p.amount };
 *       },
 *     }),
 *     records(),
 *   )
 *   .subscribe((alert) => console.log(alert)); // c1: 50 is unusual
 * ```
 * @see {@link join} for a join whose state expires, {@link countWindowBy} `ttl`
 */
export function processByKey<T, K extends WindowKey, S, O>(
  options: ProcessByKeyOptions<T, K, S, O>,
): OperatorFunction<Timed<T>, Timed<O>> {
  requireObject('processByKey', options);
  rejectUnknown('processByKey', options, KNOWN);
  requireFunction('processByKey.key', options.key, 'pass e.g. (e) => e.user returning a string or number');
  if (options.ttl === undefined)
    throw new InvalidOptionError(
      'processByKey.ttl',
      'is required: how long (ms of event time) a key’s state lives after it was last written; without it state grows without bound',
    );
  requirePositive('processByKey.ttl', options.ttl);
  requireFunction('processByKey.process', options.process, 'pass (state, record, context) => newState');
  optionalFunction('processByKey.expire', options.expire);
  optionalFunction('processByKey.invalid', options.invalid);
  optionalId('processByKey.id', options.id);
  const { key: keyOf, ttl, process, expire, invalid, id } = options;

  return (source) => {
    refuseChangelog('processByKey', 'input', source);
    return new TimedObservable<O>((sink, subscriber) => {
      const states = new KeyedTtlState<K, S>(ttl);
      let wm = Number.NEGATIVE_INFINITY;
      let invalidRecords = 0;
      // One context object, updated in place: no allocation per record.
      const ctx = {
        key: undefined as unknown as K,
        timestamp: 0,
        watermark: wm,
        emit: (value: O) => sink.record(value, ctx.timestamp),
      };
      registerState('processByKey', id, {
        snapshot: (): ProcessByKeyState => ({ watermark: encodeTime(wm), keys: states.snapshot() }),
        restore(saved) {
          const s = saved as Partial<ProcessByKeyState> | null;
          check(typeof s === 'object' && s !== null, 'processByKey', 'state is not an object');
          wm = decodeTime(s.watermark, 'processByKey.watermark');
          states.restore(s.keys, 'processByKey.keys');
        },
        stats: () => ({ watermark: wm, keys: states.size, expiredKeys: states.expired, invalidRecords }),
      });
      const onExpire = expire
        ? (key: K, state: S, at: number) => {
            ctx.key = key;
            ctx.timestamp = at;
            expire(state, ctx);
          }
        : undefined;
      const advance = (next: number) => {
        if (!(next > wm)) return;
        ctx.watermark = next;
        states.advance(next, onExpire);
        wm = next;
        sink.watermark(next);
      };
      return connectTimed(
        source,
        {
          record(value, timestamp) {
            const k = keyOf(value);
            if (!isKey(k)) {
              invalidRecords++;
              const error = new InvalidRecordError(
                `processByKey: key(record) returned ${describe(k)}; keys must be strings or finite numbers ` +
                  '(fix the key function, or pass `invalid` to skip such records)',
                value,
              );
              if (invalid) invalid(error);
              else sink.error(error);
              return;
            }
            // A state the record's own timestamp has outlived is gone, whatever the watermark says.
            states.expireIfDue(k, timestamp, onExpire);
            ctx.key = k;
            ctx.timestamp = timestamp;
            ctx.watermark = wm;
            const next = process(states.get(k), value, ctx);
            if (next === undefined) states.delete(k);
            else states.set(k, next, timestamp);
          },
          watermark: advance,
          error: (err) => sink.error(err),
          complete() {
            advance(Number.POSITIVE_INFINITY);
            completeSink(sink);
          },
        },
        subscriber,
        'processByKey',
      );
    });
  };
}
