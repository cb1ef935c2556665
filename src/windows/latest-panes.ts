/**
 * The latest pane of every window fired so far: one per (key, start, end),
 * by {@link paneWins}, bounded, and encoded column by column for checkpoints
 * (one IndexedDB value with a few large arrays clones far faster than
 * 100 k small objects). The view of every host: the browser worker, the edge
 * partition and the server's global pipeline.
 *
 * @module
 */
import { SnapshotError } from '../errors.js';
import type { DeletedWindow } from './changelog.js';
import { paneWins, windowId } from './identity.js';
import type { Timing, WindowResult } from './window-result.js';

const TIMINGS: readonly Timing[] = ['early', 'on-time', 'late'];

/** The view as stored in a checkpoint. @internal */
export interface EncodedView {
  readonly format: 'tidemark.view';
  readonly keys: unknown[];
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly values: unknown[];
  readonly timings: Uint8Array;
  readonly panes: Uint32Array;
}

type Result = WindowResult<string | number, unknown>;

/** `true` when `value` looks like a window result (the view ignores anything else). @internal */
export function isWindowResult(value: unknown): value is Result {
  const r = value as Partial<Result> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    (typeof r.key === 'string' || typeof r.key === 'number') &&
    typeof r.start === 'number' &&
    typeof r.end === 'number' &&
    typeof r.pane === 'number' &&
    typeof r.timing === 'string'
  );
}

/**
 * Latest pane per (key, start, end); beyond `maxWindows` windows, the ones
 * that ended first are evicted. Entries are listed in the order their
 * latest pane arrived.
 *
 * It applies a changelog (`windowBy({ changelog: true })`): an `insert` or
 * `update-after` is a row like a plain result (kept without its `kind`); an
 * `update-before` or `delete` removes its window's row (unless the row shown
 * is a newer pane). A removal that no row replaced is a deletion, which
 * {@link LatestPanes.takeDeleted} reports: what a serving layer must send
 * on as "this window is gone".
 *
 * @internal
 */
export class LatestPanes {
  private readonly panes = new Map<string, Result>();
  /** Windows removed since the last takeDeleted() and not shown again. */
  private readonly deleted = new Map<string, DeletedWindow>();

  constructor(private readonly maxWindows: number) {}

  get size(): number {
    return this.panes.size;
  }

  /** Records `result` if it is a window result (a changelog record included); answers whether it was. */
  add(result: unknown): boolean {
    if (!isWindowResult(result)) return false;
    const id = windowId(result);
    const current = this.panes.get(id);
    if (!paneWins(result, current)) return true;
    const kind = (result as { kind?: unknown }).kind;
    if (kind !== undefined) {
      if (kind === 'update-before' || kind === 'delete') {
        if (current === undefined) return true;
        this.panes.delete(id);
        this.deleted.set(id, { key: result.key, start: result.start, end: result.end, pane: result.pane });
        // Bounded like the rows: a host that never asks keeps only the latest.
        if (this.deleted.size > this.maxWindows) this.deleted.delete(this.deleted.keys().next().value as string);
        return true;
      }
      // Shown without its kind: a row of the view, as a plain result is.
      result = { key: result.key, start: result.start, end: result.end, value: result.value, timing: result.timing, pane: result.pane };
    }
    if (this.deleted.size > 0) this.deleted.delete(id);
    // Delete first so that Map order stays "last fired last".
    this.panes.delete(id);
    this.panes.set(id, result as Result);
    // Evict in bulk, not per insert: a 10 % slack keeps eviction amortised O(1).
    if (this.panes.size > this.maxWindows * 1.1) this.evict();
    return true;
  }

  entries(): Result[] {
    return [...this.panes.values()];
  }

  /**
   * The windows whose row a changelog removed (`delete`, or an
   * `update-before` no `update-after` followed) since the last call, each
   * with the pane number of the record that removed it; clears the list.
   * Call it after a batch of results: an `update-before` and its
   * `update-after` are emitted together, and the second cancels the first.
   */
  takeDeleted(): DeletedWindow[] {
    const out = [...this.deleted.values()];
    this.deleted.clear();
    return out;
  }

  encode(): EncodedView {
    const n = this.panes.size;
    const view: EncodedView = {
      format: 'tidemark.view',
      keys: new Array(n),
      starts: new Float64Array(n),
      ends: new Float64Array(n),
      values: new Array(n),
      timings: new Uint8Array(n),
      panes: new Uint32Array(n),
    };
    let i = 0;
    for (const r of this.panes.values()) {
      view.keys[i] = r.key;
      view.starts[i] = r.start;
      view.ends[i] = r.end;
      view.values[i] = r.value;
      view.timings[i] = TIMINGS.indexOf(r.timing);
      view.panes[i] = r.pane;
      i++;
    }
    return view;
  }

  /** Replaces the view with a stored one (`undefined`: empty; an array of results, or what `encode` gave); throws {@link SnapshotError} for anything else. */
  restore(encoded: unknown): void {
    this.panes.clear();
    this.deleted.clear();
    if (encoded === undefined) return;
    // A view stored as plain entries (JSON storage, such as the edge's).
    if (Array.isArray(encoded)) {
      for (const r of encoded) this.add(r);
      return;
    }
    const v = encoded as Partial<EncodedView> | null;
    if (
      v?.format !== 'tidemark.view' ||
      !Array.isArray(v.keys) ||
      !Array.isArray(v.values) ||
      !(v.starts instanceof Float64Array) ||
      !(v.ends instanceof Float64Array) ||
      !(v.timings instanceof Uint8Array) ||
      !(v.panes instanceof Uint32Array)
    )
      throw new SnapshotError('the stored view is not a tidemark.view record; clear the site data to start over');
    for (let i = 0; i < v.keys.length; i++)
      this.add({
        key: v.keys[i],
        start: v.starts[i],
        end: v.ends[i],
        value: v.values[i],
        timing: TIMINGS[v.timings[i] ?? 0],
        pane: v.panes[i],
      });
  }

  private evict(): void {
    const byEnd = [...this.panes].sort((a, b) => a[1].end - b[1].end);
    for (let i = 0; i < byEnd.length - this.maxWindows; i++) this.panes.delete((byEnd[i] as [string, Result])[0]);
  }
}
