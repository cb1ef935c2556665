/**
 * The serving layer's view (platform-free): the global speed layer's latest
 * panes merged with the batch layer's final windows, kept as the rows
 * subscribers see, and every change to them numbered. Persistence and
 * pushing are the host's (`server/change-log.ts`, `host/view-stream.ts`).
 *
 * A pipeline whose output is a changelog (`windowBy({ changelog: true })`)
 * takes speed rows back: an `update-before` or a `delete` removes the row
 * until its `update-after` (a session merge's superseded spans are deleted).
 *
 * The merge rule, per window: where the batch layer has made the window
 * final (it starts before the batch run's frontier), the batch value
 * (`source: 'batch', final: true`), or no row when the batch run has no
 * such window; otherwise the speed value (`source: 'speed'`), or the batch
 * value of a window the speed layer does not have (`final: false`).
 *
 * @internal
 * @module
 */
import { sameJson, toJson } from '../protocol/json.js';
import type { ViewChange, ViewRow } from '../protocol/wire.js';
import { compareWindows, paneWins, type WindowValue, windowId } from '../windows/identity.js';
import { isRetraction } from '../windows/changelog.js';
import { isWindowResult } from '../windows/latest-panes.js';
import type { WindowKey } from '../windows/window-result.js';

/** Which rows a reader asks for: windows overlapping `[from, to)`, of `key` when given. */
export interface ViewFilter {
  readonly from?: number;
  readonly to?: number;
  readonly key?: string;
}

/** Whether `row` passes `filter`. */
export function matches(row: { key: WindowKey; start: number; end: number }, filter: ViewFilter): boolean {
  if (filter.key !== undefined && String(row.key) !== filter.key) return false;
  if (filter.from !== undefined && row.end <= filter.from) return false;
  if (filter.to !== undefined && row.start >= filter.to) return false;
  return true;
}

interface SpeedPane extends WindowValue {
  readonly pane?: number;
}

/** The merged view and its numbered changes. */
export class ServingView {
  private readonly speed = new Map<string, SpeedPane>();
  private readonly batch = new Map<string, WindowValue>();
  private frontier = Number.NEGATIVE_INFINITY;
  private readonly published = new Map<string, ViewRow>();
  /** The id of the last change made. */
  lastId: number;

  /**
   * @param rows - the rows subscribers were last sent (restored from the change log)
   * @param lastId - the id of the last change they reflect
   * @param maxRows - beyond this many windows, those that ended first are forgotten (no change is sent for them)
   */
  constructor(rows: Iterable<ViewRow>, lastId: number, private readonly maxRows = 1_000_000) {
    for (const r of rows) this.published.set(windowId(r), r);
    this.lastId = lastId;
  }

  get size(): number {
    return this.published.size;
  }

  /** The batch layer's frontier: windows starting before it are final. */
  get batchFrontier(): number {
    return this.frontier;
  }

  /**
   * Takes speed-layer results (window results; anything else is ignored).
   * With `quiet`, only the speed state changes (a replay before
   * {@link resync}); otherwise answers the changes they make.
   */
  speedResults(results: readonly unknown[], quiet = false): ViewChange[] {
    const touched: string[] = [];
    for (const r of results) {
      if (!isWindowResult(r)) continue;
      const id = windowId(r);
      // A changelog (`windowBy({ changelog: true })`): a retraction takes the speed row back.
      if (isRetraction(r as { kind?: unknown })) {
        if (this.speed.delete(id) && !quiet) touched.push(id);
        continue;
      }
      if (!paneWins(r, this.speed.get(id))) continue;
      this.speed.set(id, { key: r.key, start: r.start, end: r.end, value: toJson(r.value), pane: r.pane });
      if (!quiet) touched.push(id);
    }
    const changes: ViewChange[] = [];
    for (const id of touched) this.update(id, changes);
    this.bound();
    return changes;
  }

  /** Replaces the batch layer's view (its windows over all clients and how far they are final); answers the changes. */
  setBatch(windows: Iterable<WindowValue>, frontier: number, quiet = false): ViewChange[] {
    const before = new Set(this.batch.keys());
    this.batch.clear();
    for (const w of windows) this.batch.set(windowId(w), { key: w.key, start: w.start, end: w.end, value: toJson(w.value) });
    this.frontier = frontier;
    if (quiet) return [];
    const ids = new Set([...before, ...this.batch.keys()]);
    // Speed windows the batch layer has made final without having them: deleted.
    for (const [id, s] of this.speed) if (s.start < frontier) ids.add(id);
    const changes: ViewChange[] = [];
    for (const id of [...ids].sort()) this.update(id, changes);
    return changes;
  }

  /** Compares every window with what subscribers were sent: the changes that bring them up to date (after a restart). */
  resync(): ViewChange[] {
    const ids = new Set([...this.published.keys(), ...this.speed.keys(), ...this.batch.keys()]);
    const changes: ViewChange[] = [];
    for (const id of [...ids].sort()) this.update(id, changes);
    this.bound();
    return changes;
  }

  /** The rows passing `filter`, sorted by key, then start. */
  rows(filter: ViewFilter = {}): ViewRow[] {
    const out: ViewRow[] = [];
    for (const r of this.published.values()) if (matches(r, filter)) out.push(r);
    return out.sort(compareWindows);
  }

  private merged(id: string): Omit<ViewRow, 'version'> | undefined {
    const b = this.batch.get(id);
    const s = this.speed.get(id);
    const w = (b ?? s)!;
    if (w.start < this.frontier)
      return b ? { key: b.key, start: b.start, end: b.end, value: b.value, source: 'batch', final: true } : undefined;
    if (s) return { key: s.key, start: s.start, end: s.end, value: s.value, source: 'speed', final: false };
    if (b) return { key: b.key, start: b.start, end: b.end, value: b.value, source: 'batch', final: false };
    return undefined;
  }

  private update(id: string, changes: ViewChange[]): void {
    const next = this.speed.has(id) || this.batch.has(id) ? this.merged(id) : undefined;
    const last = this.published.get(id);
    if (next === undefined) {
      if (last === undefined) return;
      this.published.delete(id);
      changes.push({ id: ++this.lastId, op: 'delete', row: { key: last.key, start: last.start, end: last.end } });
      return;
    }
    if (last && last.source === next.source && last.final === next.final && sameJson(last.value, next.value)) return;
    const row: ViewRow = { ...next, version: ++this.lastId };
    this.published.set(id, row);
    changes.push({ id: row.version, op: 'upsert', row });
  }

  private bound(): void {
    if (this.published.size <= this.maxRows * 1.1 && this.speed.size <= this.maxRows * 1.1) return;
    const byEnd = [...this.published].sort((a, b) => a[1].end - b[1].end);
    for (let i = 0; i < byEnd.length - this.maxRows; i++) {
      const id = byEnd[i]![0];
      this.published.delete(id);
      this.speed.delete(id);
      this.batch.delete(id);
    }
  }
}
