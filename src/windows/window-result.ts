/**
 * What a window firing emits, and the contract between the window engines
 * and the {@link windowBy} operator.
 *
 * @module
 */
import type { Aggregate } from '../aggregates/aggregate.js';

/** Keys group records; they must be strings or finite numbers (cheap to hash, safe to snapshot). */
export type WindowKey = string | number;

/** Whether `k` can be a window key. @internal */
export function isKey(k: unknown): k is WindowKey {
  return typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k));
}

/**
 * Why a pane fired: `early` before the watermark reached the window's end,
 * `on-time` exactly once when it did, `late` for each record accepted
 * afterwards (within `allowedLateness`).
 */
export type Timing = 'early' | 'on-time' | 'late';

/**
 * One firing of one window for one key. Its event timestamp in the output
 * stream is the window's last timestamp (`end - 1`; `end` for sessions, see
 * {@link session}), so results can be windowed again.
 *
 * @example
 * ```ts
 * import type { WindowResult } from 'tidemark';
 * const r: WindowResult<string, number> =
 *   { key: '/home', start: 0, end: 60_000, value: 42, timing: 'on-time', pane: 0 };
 * ```
 */
export interface WindowResult<K extends WindowKey, R> {
  readonly key: K;
  /** Inclusive start of the window. */
  readonly start: number;
  /** Exclusive end of the window. */
  readonly end: number;
  /** The aggregate over every record accepted into the window so far (accumulating mode). */
  readonly value: R;
  readonly timing: Timing;
  /** Index of this firing for this (key, window), from 0. */
  readonly pane: number;
}

/** Configuration the operator hands an engine. @internal */
export interface EngineConfig<T, K extends WindowKey, A, R> {
  readonly aggregate: Aggregate<T, A, R>;
  readonly allowedLateness: number;
  /** Fire early after this many records per (key, window); 0 = off. */
  readonly earlyCount: number;
  /** Track keys changed since their last firing, for processing-time early firings. */
  readonly trackDirty: boolean;
  /**
   * Emit a changelog (see `changelog.ts`): each result carries a `kind`, a
   * firing after the first takes the previous row back, a superseded session
   * span is deleted.
   */
  readonly changelog: boolean;
  /** The input is a changelog: count rows per (key, window) so that a window retracted to nothing does not fire. */
  readonly retractions: boolean;
  /** Receives each firing, with its event timestamp: the window's last timestamp. */
  readonly emit: (result: WindowResult<K, R>, timestamp: number) => void;
}

/**
 * A window state machine (internal). The operator owns the watermark and
 * passes it in; the engine decides what fires and purges.
 *
 * @internal
 */
export interface WindowEngine<T, K extends WindowKey> {
  /** Adds a record under the watermark as it stood before it; `false` when every window was late. */
  add(value: T, timestamp: number, key: K, watermark: number): boolean;
  /** Takes a record back out (`config.retractions` only); `false` when every window was late. */
  retract(value: T, timestamp: number, key: K, watermark: number): boolean;
  /** The watermark advanced to `watermark`: fire on-time panes, purge expired state. */
  advance(watermark: number): void;
  /** Fires an early pane for every (key, window) changed since its last firing and not yet on time. */
  fireChanged(watermark: number): void;
  /** Number of open (key, window) pairs. */
  openWindows(): number;
  snapshot(): unknown;
  restore(state: unknown, watermark: number): void;
}
