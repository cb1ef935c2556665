/**
 * The global speed layer split into partitions (platform-free): each
 * partition runs the pipeline over its own clients' events, so one window
 * of one key can have a value in several partitions. This combines them
 * with the aggregate's `merge` into the one value the served view shows,
 * and numbers the combined panes so that the view takes each change.
 *
 * With one partition it only passes results through (no `merge` needed).
 *
 * @internal
 * @module
 */
import { toJson } from '../protocol/json.js';
import { isRetraction } from '../windows/changelog.js';
import { windowId } from '../windows/identity.js';
import { isWindowResult } from '../windows/latest-panes.js';
import type { WindowKey, WindowResult } from '../windows/window-result.js';

interface Part {
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
  readonly pane: number;
}

/** A combined result: a window result, or a `delete` when no partition holds the window any more. */
export type CombinedResult = WindowResult<WindowKey, unknown> & { readonly kind?: 'delete' };

/** Combines the partitions' latest panes per window. */
export class PartitionMerge {
  private readonly windows = new Map<string, { parts: Map<number, Part>; pane: number }>();

  /**
   * @param merge - combines the values two partitions hold for one window (the aggregate's `merge`, when its result is its accumulator)
   * @param maxWindows - beyond this many windows, those that ended first are forgotten
   */
  constructor(
    private readonly merge: ((a: unknown, b: unknown) => unknown) | undefined,
    private readonly maxWindows = 1_000_000,
  ) {}

  get size(): number {
    return this.windows.size;
  }

  /**
   * Takes results partition `partition` fired (its latest panes, or a
   * changelog), and answers the combined results of the windows they touch.
   * @throws {TypeError} when two partitions hold one window and there is no `merge`
   */
  apply(partition: number, results: readonly unknown[]): CombinedResult[] {
    const touched = new Set<string>();
    for (const r of results) {
      if (!isWindowResult(r)) continue;
      const id = windowId(r);
      let w = this.windows.get(id);
      if (isRetraction(r as { kind?: unknown })) {
        if (w?.parts.delete(partition)) touched.add(id);
        continue;
      }
      if (!w) this.windows.set(id, (w = { parts: new Map(), pane: -1 }));
      const had = w.parts.get(partition);
      // A lower pane of the same partition arrived late (a new owner replaying): the higher one stands.
      if (had && had.pane > r.pane) continue;
      w.parts.set(partition, { key: r.key, start: r.start, end: r.end, value: toJson(r.value), pane: r.pane });
      touched.add(id);
    }
    const out: CombinedResult[] = [];
    for (const id of touched) {
      const w = this.windows.get(id)!;
      const parts = [...w.parts.values()];
      w.pane++;
      if (parts.length === 0) {
        this.windows.delete(id);
        const gone = results.find((r) => isWindowResult(r) && windowId(r) === id) as Part;
        out.push({ key: gone.key, start: gone.start, end: gone.end, value: null, timing: 'late', pane: w.pane, kind: 'delete' });
        continue;
      }
      let value = parts[0]!.value;
      if (parts.length > 1) {
        if (!this.merge)
          throw new TypeError(
            `window ${id} has values in ${parts.length} partitions and the pipeline module exports no merge: ` +
              'export const merge = (a, b) => … (the aggregate\'s merge), or run one partition',
          );
        for (let i = 1; i < parts.length; i++) value = toJson(this.merge(value, parts[i]!.value));
      }
      const p = parts[0]!;
      out.push({ key: p.key, start: p.start, end: p.end, value, timing: 'early', pane: w.pane });
    }
    this.bound();
    return out;
  }

  private bound(): void {
    if (this.windows.size <= this.maxWindows * 1.1) return;
    const byEnd = [...this.windows].sort((a, b) => [...a[1].parts.values()][0]!.end - [...b[1].parts.values()][0]!.end);
    for (let i = 0; i < byEnd.length - this.maxWindows; i++) this.windows.delete(byEnd[i]![0]);
  }
}
