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

/**
 * A map from window (key, start, end) to a value carrying them, without
 * building a string per window: by key, then start; a second window with
 * the same key and start but another end (possible when a pipeline merges
 * several window streams) goes to a short list.
 *
 * @internal
 */
export class WindowMap<V extends { readonly key: WindowKey; readonly start: number; readonly end: number }> {
  private readonly byKey = new Map<WindowKey, Map<number, V | V[]>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: WindowKey, start: number, end: number): V | undefined {
    const found = this.byKey.get(key)?.get(start);
    if (found === undefined) return undefined;
    if (!Array.isArray(found)) return found.end === end ? found : undefined;
    return found.find((v) => v.end === end);
  }

  /** Adds `value`, replacing the value of the same window. */
  set(value: V): void {
    let starts = this.byKey.get(value.key);
    if (!starts) this.byKey.set(value.key, (starts = new Map()));
    const found = starts.get(value.start);
    if (found === undefined) {
      starts.set(value.start, value);
      this.count++;
    } else if (!Array.isArray(found)) {
      if (found.end === value.end) starts.set(value.start, value);
      else {
        starts.set(value.start, [found, value]);
        this.count++;
      }
    } else {
      const i = found.findIndex((v) => v.end === value.end);
      if (i >= 0) found[i] = value;
      else {
        found.push(value);
        this.count++;
      }
    }
  }

  /** Every value, grouped by key (keys in first-set order), then in first-set order of start. */
  values(): V[] {
    const out: V[] = [];
    for (const starts of this.byKey.values())
      for (const v of starts.values()) {
        if (Array.isArray(v)) out.push(...v);
        else out.push(v);
      }
    return out;
  }
}
