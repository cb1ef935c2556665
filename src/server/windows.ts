/**
 * Window identity and order, shared by the stores and the batch layer.
 *
 * @module
 */
import type { WindowKey } from '../windows/window-result.js';

/**
 * One window's value: what a batch view holds for each (key, start, end).
 *
 * @example
 * ```ts
 * import type { WindowValue } from 'tidemark/server';
 * const w: WindowValue = { key: '/home', start: 0, end: 60_000, value: 42 };
 * ```
 */
export interface WindowValue {
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
}

/**
 * A string naming one (key, start, end): `typeof key` keeps `1` and `'1'`
 * apart, and the two numbers last make it unambiguous whatever the key holds.
 *
 * @internal
 */
export function windowId(key: WindowKey, start: number, end: number): string {
  return `${typeof key}:${key}:${start}:${end}`;
}

/** Orders windows by key (as strings), then start, then end, as `latestPanes` does. @internal */
export function compareWindows(a: { key: WindowKey; start: number; end: number }, b: typeof a): number {
  if (a.key !== b.key) {
    const x = String(a.key);
    const y = String(b.key);
    if (x !== y) return x < y ? -1 : 1;
    return typeof a.key === 'number' ? -1 : 1; // 1 before '1'
  }
  return a.start - b.start || a.end - b.end;
}
