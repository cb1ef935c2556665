/**
 * Eager option validation shared by the factories (internal). Each helper
 * throws an {@link InvalidOptionError} whose message names the option, what
 * was given, and what to pass instead.
 *
 * @internal
 * @module
 */
import { describe, InvalidOptionError } from './errors.js';

export function requireObject(option: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError(option, `expected an options object, got ${describe(value)}`);
}

export function requireFunction(option: string, value: unknown, hint: string): void {
  if (typeof value !== 'function')
    throw new InvalidOptionError(option, `expected a function, got ${describe(value)}; ${hint}`);
}

export function optionalFunction(option: string, value: unknown): void {
  if (value !== undefined) requireFunction(option, value, 'omit it or pass a function');
}

/** A finite number > 0. */
export function requirePositive(option: string, value: unknown, unit = 'milliseconds'): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new InvalidOptionError(option, `must be a finite number > 0 (${unit}), got ${describe(value)}`);
}

/** A finite number ≥ 0. */
export function requireNonNegative(option: string, value: unknown, unit = 'milliseconds'): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new InvalidOptionError(option, `must be a finite number >= 0 (${unit}), got ${describe(value)}`);
}

export function requirePositiveInteger(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    throw new InvalidOptionError(option, `must be a whole number >= 1, got ${describe(value)}`);
}

export function optionalId(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 200))
    throw new InvalidOptionError(option, `must be a non-empty string of at most 200 characters, got ${describe(value)}`);
}

/** Refuses option names the factory does not know, which are almost always typos. */
export function rejectUnknown(factory: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name))
      throw new InvalidOptionError(`${factory}.${name}`, `unknown option; the options are ${known.join(', ')}`);
  }
}

/** A whole number of milliseconds > 0 (window sizes: keeps window arithmetic exact). */
export function requirePositiveWholeMs(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    throw new InvalidOptionError(option, `must be a whole number of milliseconds > 0, got ${describe(value)}`);
}

/** A whole number of milliseconds, any sign. */
export function requireWholeMs(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new InvalidOptionError(option, `must be a whole number of milliseconds, got ${describe(value)}`);
}

/** An optional RxJS scheduler (the clock for timers). */
export function optionalScheduler(option: string, value: unknown): void {
  if (value !== undefined && typeof (value as { schedule?: unknown } | null)?.schedule !== 'function')
    throw new InvalidOptionError(option, 'expected an RxJS SchedulerLike such as asyncScheduler');
}

/** A delay for `setTimeout`: > 0 and at most 2^31 - 1 ms (larger values fire at once). */
export function requireTimerMs(option: string, value: unknown): void {
  requirePositive(option, value);
  if ((value as number) > 2_147_483_647)
    throw new InvalidOptionError(option, `must be at most 2147483647 ms (about 24.8 days; a timer cannot wait longer), got ${describe(value)}`);
}
