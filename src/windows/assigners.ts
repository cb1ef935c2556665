/**
 * Window assigners: which windows a timestamp belongs to. Pure values; the
 * {@link windowBy} operator reads their parameters and does the assignment
 * itself on the hot path, so `assign` is there for users and tests.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import { requirePositive, requirePositiveWholeMs, requireWholeMs } from '../options.js';

/** A half-open event-time interval `[start, end)`; its last timestamp is `end - 1`. */
export interface WindowSpan {
  readonly start: number;
  readonly end: number;
}

/** Fixed-size, non-overlapping windows. Made by {@link tumbling}. */
export interface TumblingWindows {
  readonly kind: 'tumbling';
  readonly size: number;
  readonly offset: number;
  /** The one window containing `timestamp`. */
  assign(timestamp: number): WindowSpan[];
}

/** Fixed-size windows starting every `slide`. Made by {@link sliding}. */
export interface SlidingWindows {
  readonly kind: 'sliding';
  readonly size: number;
  readonly slide: number;
  readonly offset: number;
  /** Every window containing `timestamp`, latest start first. */
  assign(timestamp: number): WindowSpan[];
}

/** Per-key windows that grow while records keep arriving within `gap`. Made by {@link session}. */
export interface SessionWindows {
  readonly kind: 'session';
  readonly gap: number;
  /** The window a lone record opens, `[timestamp, timestamp + gap)`, before merging. */
  assign(timestamp: number): WindowSpan[];
}

/** Any window assigner accepted by {@link windowBy}. */
export type WindowAssigner = TumblingWindows | SlidingWindows | SessionWindows;

/**
 * Start of the window of length `size` (aligned to `offset`) that contains
 * `timestamp`: `timestamp - mod(timestamp - offset, size)`, with a
 * non-negative `mod` so that negative timestamps are aligned too.
 *
 * @internal
 */
export function alignedStart(timestamp: number, offset: number, size: number): number {
  // Epoch milliseconds exceed int32, and `%` on doubles is a slow fmod call
  // (~10 ns); a floor division is ~3 ns. With whole-ms sizes and offsets the
  // start `q * size + offset` is an exact integer; the division's rounding
  // can put it one window off near a boundary, which the checks undo.
  let start = Math.floor((timestamp - offset) / size) * size + offset;
  if (start > timestamp) start -= size;
  else if (start + size <= timestamp) start += size;
  return start;
}

/**
 * Tumbling windows: `[start, start + size)` for every `start ≡ offset (mod size)`.
 * Each timestamp is in exactly one window.
 *
 * @param size - window length, a whole number of milliseconds > 0
 * @param offset - shifts the window boundaries (whole milliseconds), e.g. `-3_600_000` for hourly windows in UTC+1; default 0
 * @throws {@link InvalidOptionError} when `size` is not a positive whole number or `offset` not a whole number
 * @example
 * ```ts
 * import { tumbling } from 'tidemark';
 * const minute = tumbling(60_000);
 * console.log(minute.assign(61_500)); // [{ start: 60000, end: 120000 }]
 * ```
 * @see {@link sliding}, {@link session}
 */
export function tumbling(size: number, offset = 0): TumblingWindows {
  requirePositiveWholeMs('tumbling.size', size);
  requireWholeMs('tumbling.offset', offset);
  return {
    kind: 'tumbling',
    size,
    offset,
    assign(timestamp) {
      const start = alignedStart(timestamp, offset, size);
      return [{ start, end: start + size }];
    },
  };
}

/**
 * Sliding (hopping) windows of length `size` starting every `slide`. A
 * timestamp belongs to every window `[start, start + size)` with
 * `start ≡ offset (mod slide)` and `start > timestamp - size`.
 *
 * @param size - window length, a whole number of milliseconds > 0
 * @param slide - distance between window starts, whole milliseconds, > 0 and ≤ `size`
 * @param offset - shifts the window boundaries (whole milliseconds); default 0
 * @throws {@link InvalidOptionError} when `slide > size` (use {@link tumbling} for non-overlapping windows) or a value is not a whole number of milliseconds
 * @example
 * ```ts
 * import { sliding } from 'tidemark';
 * const w = sliding(60_000, 10_000);
 * console.log(w.assign(65_000).length); // 6 windows contain each timestamp
 * ```
 * @see {@link tumbling}, {@link session}
 */
export function sliding(size: number, slide: number, offset = 0): SlidingWindows {
  requirePositiveWholeMs('sliding.size', size);
  requirePositiveWholeMs('sliding.slide', slide);
  requireWholeMs('sliding.offset', offset);
  if (slide > size)
    throw new InvalidOptionError(
      'sliding.slide',
      `must be <= size (${size}), got ${slide}: windows would leave gaps where records belong to no window; ` +
        'use a smaller slide, or tumbling(size) when slide equals size',
    );
  return {
    kind: 'sliding',
    size,
    slide,
    offset,
    assign(timestamp) {
      const spans: WindowSpan[] = [];
      for (let start = alignedStart(timestamp, offset, slide); start > timestamp - size; start -= slide)
        spans.push({ start, end: start + size });
      return spans;
    },
  };
}

/**
 * Session windows: each record opens `[timestamp, timestamp + gap)`; windows
 * of the same key that overlap or touch are merged into one. A session ends
 * once `gap` milliseconds of event time pass without a record for its key.
 *
 * Because touching sessions merge, a record stamped exactly `end` still
 * joins a session, so a session fires when the watermark reaches `end` (not
 * `end - 1` as tumbling and sliding windows do), is late once
 * `end + allowedLateness <= watermark`, and its results are stamped `end`.
 * This is one millisecond later than Flink, whose `end - 1` can split under
 * disorder a session that a batch run keeps whole. An early pane may belong
 * to a session that a later record merges into a larger one; that window
 * then never fires on time.
 *
 * @param gap - inactivity gap in milliseconds, > 0
 * @throws {@link InvalidOptionError} when `gap` is not a positive finite number
 * @example
 * ```ts
 * import { session } from 'tidemark';
 * console.log(session(5_000).assign(1_000)); // [{ start: 1000, end: 6000 }]
 * ```
 * @see {@link tumbling}, {@link sliding}
 */
export function session(gap: number): SessionWindows {
  requirePositive('session.gap', gap);
  return { kind: 'session', gap, assign: (timestamp) => [{ start: timestamp, end: timestamp + gap }] };
}
