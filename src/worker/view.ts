/**
 * The runtime's view: the latest pane of every window fired so far, one per
 * (key, start, end), bounded, and encoded column by column for checkpoints
 * (one IndexedDB value with a few large arrays clones far faster than
 * 100 k small objects).
 *
 * @module
 */
import { SnapshotError } from '../errors.js';
import { sameJson } from '../protocol/json.js';
import type { Correction } from '../protocol/wire.js';
import type { Timing, WindowResult } from '../windows/window-result.js';

const TIMINGS: readonly Timing[] = ['early', 'on-time', 'late'];

/** The view as stored in a checkpoint. */
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

/** `true` when `value` looks like a window result (the view ignores anything else). */
function isWindowResult(value: unknown): value is Result {
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

/** Latest pane per (key, start, end); evicts the windows that ended first beyond `maxWindows`. */
export class LatestPanes {
  private readonly panes = new Map<string, Result>();

  constructor(private readonly maxWindows: number) {}

  get size(): number {
    return this.panes.size;
  }

  /** Records `result` if it is a window result; answers whether it was. */
  add(result: unknown): boolean {
    if (!isWindowResult(result)) return false;
    const id = windowId(result);
    // Delete first so that Map order stays "last fired last".
    this.panes.delete(id);
    this.panes.set(id, result);
    // Evict in bulk, not per insert: a 10 % slack keeps eviction amortised O(1).
    if (this.panes.size > this.maxWindows * 1.1) this.evict();
    return true;
  }

  entries(): Result[] {
    return [...this.panes.values()];
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

  restore(encoded: unknown): void {
    this.panes.clear();
    if (encoded === undefined) return;
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

/**
 * The view with the batch layer's corrections applied: a window shows its
 * batch value (`source: 'batch'`) while the speed layer's value is the one
 * the correction was made against (or already equals the batch value);
 * once the speed layer moved on (later events after the reconcile), it
 * shows the speed value again until the next reconcile. Windows only the
 * batch layer has (events the client dropped as too late, or never saw) are
 * added as on-time panes.
 */
export function mergeView(entries: readonly unknown[], corrections: readonly Correction[]): SourcedEntry[] {
  const byWindow = new Map<string, Correction>();
  for (const c of corrections) byWindow.set(windowId(c), c);
  const out: SourcedEntry[] = [];
  for (const e of entries as Result[]) {
    const id = windowId(e);
    const c = byWindow.get(id);
    if (c === undefined) {
      out.push({ ...e, source: 'speed' });
      continue;
    }
    byWindow.delete(id);
    if (!sameJson(e.value, c.speed) && !sameJson(e.value, c.batch)) out.push({ ...e, source: 'speed' });
    // The batch layer has no such window (`batch: null`): the speed layer's was wrong.
    else if (c.batch !== null) out.push({ ...e, value: c.batch, source: 'batch' });
  }
  for (const c of byWindow.values())
    if (c.batch !== null)
      out.push({ key: c.key, start: c.start, end: c.end, value: c.batch, timing: 'on-time', pane: 0, source: 'batch' });
  return out;
}

/**
 * One string per (key, window): the identity the view, the uploader's
 * pending results and the corrections share. Cheap (it runs for every fired
 * result); the prefix keeps the number 1 and the string "1" apart.
 */
export function windowId(w: { readonly key: string | number; readonly start: number; readonly end: number }): string {
  return `${typeof w.key === 'number' ? 'n' : 's'}${w.key}\u0000${w.start}\u0000${w.end}`;
}

/** A view entry with where its value comes from. */
export type SourcedEntry = Result & { readonly source: 'speed' | 'batch' };
