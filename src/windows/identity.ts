/**
 * What a window *is*, once, for every part of Tidemark that keeps window
 * results: its identity (key, start, end), its order, and which of two
 * panes of one window wins. The browser view, the server's results,
 * corrections and batch stores, the edge, reconcile and `tidemark/testing`
 * all use this module, so they cannot disagree.
 *
 * @module
 */
import type { WindowKey } from './window-result.js';

/**
 * A window of one key: the three fields that identify it. The number `1`
 * and the string `'1'` are different keys.
 *
 * @example
 * ```ts
 * import type { WindowRef } from 'tidemark';
 * const w: WindowRef = { key: '/home', start: 0, end: 60_000 };
 * ```
 */
export interface WindowRef {
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
}

/**
 * One window's value: what a batch view holds for each (key, start, end).
 *
 * @example
 * ```ts
 * import type { WindowValue } from 'tidemark/server';
 * const w: WindowValue = { key: '/home', start: 0, end: 60_000, value: 42 };
 * ```
 */
export interface WindowValue extends WindowRef {
  readonly value: unknown;
}

/**
 * One string per (key, start, end), for maps and sets. Cheap (it runs for
 * every fired result); the prefix keeps the number 1 and the string "1"
 * apart.
 *
 * @example
 * ```ts
 * import { windowId } from 'tidemark';
 * console.log(windowId({ key: 1, start: 0, end: 10 }) === windowId({ key: '1', start: 0, end: 10 })); // false
 * ```
 */
export function windowId(w: WindowRef): string {
  return `${typeof w.key === 'number' ? 'n' : 's'}${w.key}\u0000${w.start}\u0000${w.end}`;
}

/**
 * The order of windows everywhere Tidemark lists them: by key compared as
 * strings (a number key before the equal string key, so `1` before `'1'`),
 * then start, then end. A total order: it answers 0 only for the same
 * window.
 *
 * @example
 * ```ts
 * import { compareWindows } from 'tidemark';
 * const rows = [{ key: 'b', start: 0, end: 10 }, { key: 1, start: 0, end: 10 }, { key: '1', start: 0, end: 10 }];
 * console.log(rows.sort(compareWindows).map((w) => w.key)); // [1, '1', 'b']
 * ```
 */
export function compareWindows(a: WindowRef, b: WindowRef): number {
  if (a.key !== b.key) {
    const x = String(a.key);
    const y = String(b.key);
    if (x !== y) return x < y ? -1 : 1;
    return typeof a.key === 'number' ? -1 : 1;
  }
  return a.start - b.start || a.end - b.end;
}

/**
 * Which of two panes of one window wins: `next` replaces `current` unless
 * both have a pane number and `next`'s is lower. So the highest pane wins,
 * and for equal (or missing) pane numbers the later one does: a pane fired
 * again after a restore replaces its first firing, and a retried upload of
 * an older pane does not undo a newer one.
 *
 * @example
 * ```ts
 * import { paneWins } from 'tidemark';
 * console.log(paneWins({ pane: 1 }, { pane: 2 })); // false: an older pane arrived late
 * console.log(paneWins({ pane: 2 }, { pane: 2 })); // true: the same pane again, the later one wins
 * ```
 */
export function paneWins(next: { readonly pane?: number | undefined }, current: { readonly pane?: number | undefined } | undefined): boolean {
  if (current === undefined) return true;
  const n = next.pane;
  const c = current.pane;
  return typeof n !== 'number' || typeof c !== 'number' || n >= c;
}

/**
 * A map from window (key, start, end) to a value carrying them, without
 * building a string per window: by key, then start; a second window with
 * the same key and start but another end (possible when a pipeline merges
 * several window streams) goes to a short list.
 *
 * @internal
 */
export class WindowMap<V extends WindowRef> {
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

  /** Removes the window's value; answers whether there was one. */
  delete(key: WindowKey, start: number, end: number): boolean {
    const starts = this.byKey.get(key);
    const found = starts?.get(start);
    if (starts === undefined || found === undefined) return false;
    if (!Array.isArray(found)) {
      if (found.end !== end) return false;
      starts.delete(start);
    } else {
      const i = found.findIndex((v) => v.end === end);
      if (i < 0) return false;
      found.splice(i, 1);
      if (found.length === 1) starts.set(start, found[0] as V);
    }
    if (starts.size === 0) this.byKey.delete(key);
    this.count--;
    return true;
  }

  /** Sets `value` if {@link paneWins} says it replaces the window's current value; answers whether it did. */
  offer(value: V & { readonly pane?: number | undefined }): boolean {
    const seen = this.get(value.key, value.start, value.end) as (V & { pane?: number }) | undefined;
    if (!paneWins(value, seen)) return false;
    this.set(value);
    return true;
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

  /** Every value in {@link compareWindows} order. */
  sorted(): V[] {
    return this.values().sort(compareWindows);
  }
}
