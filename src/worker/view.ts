/**
 * The runtime's view with the batch layer's corrections applied.
 *
 * @module
 */
import { sameJson } from '../protocol/json.js';
import type { Correction } from '../protocol/wire.js';
import { windowId } from '../windows/identity.js';
import type { WindowResult } from '../windows/window-result.js';

type Result = WindowResult<string | number, unknown>;

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

/** A view entry with where its value comes from. */
export type SourcedEntry = Result & { readonly source: 'speed' | 'batch' };
