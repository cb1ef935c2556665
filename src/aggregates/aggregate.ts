/**
 * Incremental aggregates: a window keeps one accumulator per key and folds
 * each record into it, so state stays O(keys × windows), never O(records).
 *
 * @module
 */
import { optionalFunction, requireFunction, requireObject } from '../options.js';

/**
 * An incremental aggregation, in the shape of Flink's `AggregateFunction`.
 *
 * - `create()` makes an empty accumulator;
 * - `add(acc, value)` folds one record in and returns the accumulator (it may
 *   return a new value, as numbers must, or mutate and return `acc`);
 * - `merge(a, b)` combines two accumulators (session windows merge);
 * - `result(acc)` reads the value a firing emits; it must not mutate `acc`,
 *   and must not return `acc` itself when `add` mutates it (return a copy): a
 *   changelog's `update-before` carries the value emitted before;
 * - `retract(acc, value)` (optional) takes one record back out: the inverse
 *   of `add`. A {@link windowBy} whose input is a changelog (an upstream
 *   `windowBy({ changelog: true })`) calls it for each `update-before` and
 *   `delete` record, and refuses, when it is created, an aggregate without it.
 *
 * Accumulators must be plain structured-cloneable data (numbers, strings,
 * plain objects and arrays) and never `undefined`, because snapshots copy
 * them into IndexedDB or send them over the wire.
 *
 * @typeParam T - record type
 * @typeParam A - accumulator type
 * @typeParam R - result type
 */
export interface Aggregate<T, A, R> {
  // Function-typed properties rather than methods, so that the compiler
  // checks the record type strictly: an aggregate of bids is no aggregate of clicks.
  readonly create: () => A;
  readonly add: (accumulator: A, value: T) => A;
  readonly merge: (a: A, b: A) => A;
  readonly result: (accumulator: A) => R;
  readonly retract?: ((accumulator: A, value: T) => A) | undefined;
}

/**
 * Declares a custom incremental aggregate, validating its four functions
 * (five with `retract`, which an aggregate needs downstream of a changelog).
 *
 * @param spec - `{ create, add, merge, result }` and optionally `retract`, see {@link Aggregate}
 * @throws {@link InvalidOptionError} when one of the functions is missing, or `retract` is not a function
 * @example
 * ```ts
 * import { aggregate } from 'tidemark';
 * // distinct users per window, kept as an array (structured-cloneable, unlike a Set)
 * const distinctUsers = aggregate<{ user: string }, string[], number>({
 *   create: () => [],
 *   add: (acc, e) => (acc.includes(e.user) ? acc : [...acc, e.user]),
 *   merge: (a, b) => [...new Set([...a, ...b])],
 *   result: (acc) => acc.length,
 * });
 * // a sum of squares that can take records back, for use over a changelog
 * const squares = aggregate<{ value: number }, number, number>({
 *   create: () => 0,
 *   add: (acc, r) => acc + r.value * r.value,
 *   merge: (a, b) => a + b,
 *   result: (acc) => acc,
 *   retract: (acc, r) => acc - r.value * r.value,
 * });
 * ```
 * @see {@link count}, {@link sum}, {@link min}, {@link max}, {@link avg}
 */
export function aggregate<T, A, R>(spec: Aggregate<T, A, R>): Aggregate<T, A, R> {
  requireObject('aggregate', spec);
  for (const name of ['create', 'add', 'merge', 'result'] as const)
    requireFunction(`aggregate.${name}`, spec[name], 'an aggregate needs create, add, merge and result');
  optionalFunction('aggregate.retract', spec.retract);
  const agg = { create: spec.create, add: spec.add, merge: spec.merge, result: spec.result };
  return spec.retract === undefined ? agg : { ...agg, retract: spec.retract };
}

/**
 * Where a built-in aggregate that cannot retract says what to use instead
 * (read by {@link windowBy} for its error message). @internal
 */
export const NO_RETRACT: unique symbol = Symbol('tidemark.noRetract');

/** Marks `agg` as unable to retract, with the alternative to name. @internal */
export function refusesRetraction<G extends object>(agg: G, alternative: string): G {
  return Object.defineProperty(agg, NO_RETRACT, { value: alternative, enumerable: false });
}
