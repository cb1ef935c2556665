/**
 * Snapshot shapes shared by every stateful operator. A snapshot is plain,
 * structured-cloneable and JSON-safe data (±Infinity are encoded), so a
 * host can put it in IndexedDB, a Durable Object or a file as it is.
 *
 * @module
 */
import { SnapshotError } from '../errors.js';

/** The state of one stateful operator inside a {@link PipelineSnapshot}. */
export interface OperatorSnapshot {
  /** Which operator made it (`eventTime`, `windowBy`, …); checked on restore. */
  readonly kind: string;
  /** Operator-specific plain data. */
  readonly state: unknown;
}

/**
 * The state of a whole pipeline: every stateful operator's state under its
 * id (an explicit `id` option, or `kind#n` in subscription order: the last
 * operator of the pipe first). Made by `PipelineRun.snapshot()`, consumed by
 * `createPipeline(...).run(..., { restore })`.
 */
export interface PipelineSnapshot {
  readonly format: 'tidemark.snapshot';
  readonly version: 1;
  readonly operators: Readonly<Record<string, OperatorSnapshot>>;
}

/**
 * Monitoring counters of one stateful operator, from `PipelineRun.stats()`:
 * its `kind` and numbers such as `watermark` (may be ±Infinity),
 * `openWindows`, `lateRecords` and `invalidRecords`.
 */
export interface OperatorStats {
  readonly kind: string;
  readonly [counter: string]: number | string;
}

/** A time that may be ±Infinity, JSON-safe: `null` is -Infinity, `'+inf'` is +Infinity. @internal */
export type EncodedTime = number | null | '+inf';

/** @internal */
export function encodeTime(t: number): EncodedTime {
  return t === Number.NEGATIVE_INFINITY ? null : t === Number.POSITIVE_INFINITY ? '+inf' : t;
}

/** @internal */
export function decodeTime(t: unknown, where: string): number {
  if (t === null) return Number.NEGATIVE_INFINITY;
  if (t === '+inf') return Number.POSITIVE_INFINITY;
  if (typeof t === 'number' && Number.isFinite(t)) return t;
  throw new SnapshotError(`${where}: expected a time (number, null or '+inf'), got ${JSON.stringify(t)}`);
}

/** Throws a {@link SnapshotError} unless `ok`. @internal */
export function check(ok: boolean, where: string, what: string): asserts ok {
  if (!ok) throw new SnapshotError(`${where}: ${what}; the snapshot is corrupt or from another version of this pipeline`);
}

/**
 * Copies accumulators so that a snapshot shares nothing with live state
 * (aggregates may mutate object accumulators in place). An array of
 * primitives (the common case: counts, sums) is returned as it is; otherwise
 * it is copied with one `structuredClone` call.
 *
 * @internal
 */
export function copyAccumulators<A>(accs: A[]): A[] {
  for (const a of accs) if (typeof a === 'object' && a !== null) return structuredClone(accs);
  return accs;
}
