/**
 * Incremental aggregates: a window keeps one accumulator per key and folds
 * each record into it, so state stays O(keys × windows), never O(records).
 *
 * @module
 */
import { requireFunction, requireObject } from '../options.js';

/**
 * An incremental aggregation, in the shape of Flink's `AggregateFunction`.
 *
 * - `create()` makes an empty accumulator;
 * - `add(acc, value)` folds one record in and returns the accumulator (it may
 *   return a new value, as numbers must, or mutate and return `acc`);
 * - `merge(a, b)` combines two accumulators (session windows merge);
 * - `result(acc)` reads the value a firing emits; it must not mutate `acc`.
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
}

/**
 * Declares a custom incremental aggregate, validating its four functions.
 *
 * @param spec - `{ create, add, merge, result }`, see {@link Aggregate}
 * @throws {@link InvalidOptionError} when one of the functions is missing
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
 * ```
 * @see {@link count}, {@link sum}, {@link min}, {@link max}, {@link avg}
 */
export function aggregate<T, A, R>(spec: Aggregate<T, A, R>): Aggregate<T, A, R> {
  requireObject('aggregate', spec);
  for (const name of ['create', 'add', 'merge', 'result'] as const)
    requireFunction(`aggregate.${name}`, spec[name], 'an aggregate needs create, add, merge and result');
  return { create: spec.create, add: spec.add, merge: spec.merge, result: spec.result };
}
