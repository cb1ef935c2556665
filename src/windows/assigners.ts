/**
 * Window assigners: which windows a timestamp belongs to. Pure values; the
 * {@link windowBy} operator reads their parameters and does the assignment
 * itself on the hot path, so `assign` is there for users and tests.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import { requirePositive, requirePositiveWholeMs, requireWholeMs } from '../options.js';
import { AlignedWindows, alignedStart } from './aligned-windows.js';
import { SessionWindows as SessionWindowsEngine } from './session-windows.js';
import type { EngineConfig, WindowEngine, WindowKey } from './window-result.js';

/**
 * Where an assigner keeps the factory of its window engine (internal). The
 * engine comes with the assigner, so a pipeline that imports only
 * `tumbling` does not bundle the session engine.
 *
 * @internal
 */
export const ENGINE: unique symbol = Symbol('tidemark.windowEngine');

/** @internal */
export type EngineFactory = <T, K extends WindowKey, A, R>(config: EngineConfig<T, K, A, R>) => WindowEngine<T, K>;

/** Reads the engine factory of an assigner made by tumbling, sliding or session. @internal */
export function engineOf(window: WindowAssigner): EngineFactory | undefined {
  return (window as Partial<Record<typeof ENGINE, EngineFactory>>)[ENGINE];
}

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
  const windows: TumblingWindows = {
    kind: 'tumbling',
    size,
    offset,
    assign(timestamp) {
      const start = alignedStart(timestamp, offset, size);
      return [{ start, end: start + size }];
    },
  };
  const engine: EngineFactory = (config) => new AlignedWindows(size, size, offset, config);
  return Object.assign(windows, { [ENGINE]: engine });
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
  const windows: SlidingWindows = {
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
  const engine: EngineFactory = (config) => new AlignedWindows(size, slide, offset, config);
  return Object.assign(windows, { [ENGINE]: engine });
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
  const windows: SessionWindows = {
    kind: 'session',
    gap,
    assign: (timestamp) => [{ start: timestamp, end: timestamp + gap }],
  };
  const engine: EngineFactory = (config) => new SessionWindowsEngine(gap, config);
  return Object.assign(windows, { [ENGINE]: engine });
}
