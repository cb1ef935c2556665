/**
 * Bounded-out-of-orderness watermarks (pure): after each record the
 * watermark is `max(watermark, maxTimestampSeen - maxOutOfOrderness - 1)`,
 * as Flink's `BoundedOutOfOrdernessWatermarks`, but applied per record rather
 * than on a periodic timer so that results never depend on batching.
 *
 * @internal
 * @module
 */
import { check, decodeTime, type EncodedTime, encodeTime } from '../checkpoint/snapshot.js';

/** Snapshot of a {@link BoundedOutOfOrderness} generator. @internal */
export interface WatermarkState {
  readonly maxTimestamp: EncodedTime;
  readonly watermark: EncodedTime;
}

/** @internal */
export class BoundedOutOfOrderness {
  maxTimestamp = Number.NEGATIVE_INFINITY;
  current = Number.NEGATIVE_INFINITY;

  constructor(readonly maxOutOfOrderness: number) {}

  /** Accounts for a record; returns `true` when the watermark advanced. */
  onRecord(timestamp: number): boolean {
    if (timestamp <= this.maxTimestamp) return false;
    this.maxTimestamp = timestamp;
    const next = timestamp - this.maxOutOfOrderness - 1;
    if (next <= this.current) return false;
    this.current = next;
    return true;
  }

  /**
   * The input has been idle: let the watermark follow the processing-time
   * clock, as if a record stamped `now` had arrived. Returns `true` when it advanced.
   */
  onIdle(now: number): boolean {
    const next = now - this.maxOutOfOrderness - 1;
    if (next <= this.current) return false;
    this.current = next;
    return true;
  }

  /** The input is complete: the watermark becomes +Infinity. Returns `true` when it advanced. */
  onEnd(): boolean {
    if (this.current === Number.POSITIVE_INFINITY) return false;
    this.current = Number.POSITIVE_INFINITY;
    return true;
  }

  snapshot(): WatermarkState {
    return { maxTimestamp: encodeTime(this.maxTimestamp), watermark: encodeTime(this.current) };
  }

  restore(state: unknown): void {
    const s = state as Partial<WatermarkState> | null;
    check(typeof s === 'object' && s !== null, 'eventTime', 'state is not an object');
    this.maxTimestamp = decodeTime(s.maxTimestamp, 'eventTime.maxTimestamp');
    this.current = decodeTime(s.watermark, 'eventTime.watermark');
  }
}
