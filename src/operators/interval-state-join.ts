/**
 * The running part shared by {@link intervalJoin} and {@link join} (internal):
 * both keep each side's records in an {@link IntervalJoinState} under one
 * two-input watermark; they differ only in the bounds they give it and the
 * names their stats use.
 *
 * @internal
 * @module
 */
import type { Observable } from 'rxjs';
import { registerState } from '../checkpoint/scope.js';
import { check } from '../checkpoint/snapshot.js';
import type { InvalidRecordError } from '../errors.js';
import { type IntervalJoinConfig, IntervalJoinState } from '../state/interval-join-state.js';
import type { Timed } from '../time/timed.js';
import type { WindowKey } from '../windows/window-result.js';
import { TimedObservable } from './timed-observable.js';
import { connectTwoInputs, type JoinCommonOptions, keyOrReport, twoInputMultiplexer } from './two-inputs.js';

/** A join's snapshot: the two-input watermark, late records counted, each side's records. */
interface IntervalStateSnapshot {
  readonly watermark: unknown;
  readonly lateRecords: number;
  readonly records: unknown;
}

/**
 * A timed stream joining `left$` and `right$` through an {@link IntervalJoinState}
 * configured by `config` (its `emit` is the output); `stats` names the state's
 * counters for the operator's `stats()`.
 */
export function intervalStateJoin<L, R, O, K extends WindowKey>(
  kind: string,
  left$: Observable<Timed<L>>,
  right$: Observable<Timed<R>>,
  options: JoinCommonOptions<L, R, K> & { readonly id?: string | undefined },
  config: Omit<IntervalJoinConfig<L, R, O>, 'emit'>,
  stats: (state: IntervalJoinState<L, R, O>) => Record<string, number>,
): TimedObservable<O> {
  const { leftKey, rightKey, late, invalid, id } = options;
  return new TimedObservable<O>((sink, subscriber) => {
    const state = new IntervalJoinState<L, R, O>({ ...config, emit: (value, timestamp) => sink.record(value, timestamp) });
    const mux = twoInputMultiplexer();
    let lateRecords = 0;
    let invalidRecords = 0;
    registerState(kind, id, {
      snapshot: (): IntervalStateSnapshot => ({ watermark: mux.snapshot(), lateRecords, records: state.snapshot() }),
      restore(saved) {
        const s = saved as Partial<IntervalStateSnapshot> | null;
        check(typeof s === 'object' && s !== null, kind, 'state is not an object');
        mux.restore(s.watermark, `${kind}.watermark`);
        lateRecords = typeof s.lateRecords === 'number' ? s.lateRecords : 0;
        state.restore(s.records, `${kind}.records`);
      },
      stats: () => ({ watermark: mux.current, ...stats(state), lateRecords, invalidRecords }),
    });
    const fail = (err: unknown) => sink.error(err);
    const onLate = (value: L | R, timestamp: number, side: 'left' | 'right') => {
      lateRecords++;
      late?.(value, timestamp, side);
    };
    const key = <T>(side: 'left' | 'right', of: (value: T) => K, value: T): K | undefined => {
      const k = keyOrReport(kind, side, of, value, invalid as ((error: InvalidRecordError) => void) | undefined, fail);
      if (k === undefined) invalidRecords++;
      return k;
    };
    return connectTwoInputs<L, R, O>(
      kind,
      left$,
      right$,
      mux,
      {
        left(value, timestamp, wm) {
          if (timestamp <= wm) return onLate(value, timestamp, 'left');
          const k = key('left', leftKey, value);
          if (k !== undefined) state.addLeft(k, value, timestamp, wm);
        },
        right(value, timestamp, wm) {
          if (timestamp <= wm) return onLate(value, timestamp, 'right');
          const k = key('right', rightKey, value);
          if (k !== undefined) state.addRight(k, value, timestamp, wm);
        },
        advance: (wm) => state.advance(wm),
      },
      options,
      sink,
      subscriber,
    );
  });
}
