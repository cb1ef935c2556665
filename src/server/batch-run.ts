/**
 * One run of a pipeline over a bounded input, to completion: the latest
 * pane of every window.
 *
 * @internal
 * @module
 */
import type { Observer } from 'rxjs';
import type { Pipeline, PipelineInput } from '../checkpoint/pipeline.js';
import { describe, TidemarkError } from '../errors.js';
import type { WindowKey } from '../windows/window-result.js';
import { compareWindows, WindowMap, type WindowValue } from '../windows/identity.js';

/** A window's latest pane as a batch run keeps it. */
export interface Pane extends WindowValue {
  readonly pane: number | undefined;
  /** Set by {@link pairWindows}: a window of the other side has the same (key, start, end). */
  matched: boolean;
}

/** What a finished batch run gives: its windows by id, or why it failed. */
export type BatchOutcome =
  | { readonly ok: true; readonly windows: WindowMap<Pane> }
  | { readonly ok: false; readonly error: unknown };

/**
 * One run of a pipeline over a bounded input: push events (in an order in
 * which none is late), then `end()` fires every open window, and the
 * outcome is the latest pane of each window (the highest pane; the later
 * one for equal or missing pane numbers), as `latestPanes` computes it.
 * The pipeline may end in `windowBy` (timed results) or in `records()`.
 */
export class BatchRun {
  private readonly windows = new WindowMap<Pane>();
  private failure: { error: unknown } | undefined;
  private readonly input: PipelineInput<unknown> | undefined;

  constructor(pipeline: Pipeline<unknown, unknown>) {
    const observer: Partial<Observer<unknown>> = {
      next: (output) => this.add(output),
      error: (error) => {
        this.failure ??= { error };
      },
    };
    try {
      this.input = pipeline.open(observer);
    } catch (error) {
      this.failure = { error };
    }
  }

  /** Pushes `data[order[0]]`, `data[order[1]]`, …; `false` once the run has failed. */
  push(data: readonly unknown[], order: Uint32Array): boolean {
    const input = this.input;
    if (!input || this.failure) return false;
    try {
      for (let i = 0; i < order.length; i++) {
        input.push(data[order[i]!]);
        if (this.failure) return false;
      }
    } catch (error) {
      this.failure ??= { error };
      return false;
    }
    return true;
  }

  /** Ends the input (every open window fires) and answers the windows. */
  end(): BatchOutcome {
    if (!this.failure && this.input && !this.input.closed) {
      try {
        this.input.end();
      } catch (error) {
        this.failure ??= { error };
      }
    }
    this.input?.unsubscribe();
    return this.failure ? { ok: false, error: this.failure.error } : { ok: true, windows: this.windows };
  }

  private add(output: unknown): void {
    let result = output as Partial<Pane> & { kind?: unknown; value?: unknown };
    if (typeof output === 'object' && output !== null && 'kind' in output) {
      // A pipeline ending in windowBy emits timed elements: keep the records' values.
      if (result.kind === 'watermark') return;
      if (result.kind === 'record') result = result.value as typeof result;
    }
    const r = result as Partial<Pane> | null;
    if (
      typeof r !== 'object' ||
      r === null ||
      !isKey(r.key) ||
      typeof r.start !== 'number' ||
      typeof r.end !== 'number'
    ) {
      this.failure ??= {
        error: new TidemarkError(
          `the pipeline emitted ${describe(r)} where a window result { key, start, end, value, pane } was expected; end it with windowBy(...) (optionally followed by records())`,
        ),
      };
      return;
    }
    const pane = typeof r.pane === 'number' ? r.pane : undefined;
    this.windows.offer({ key: r.key, start: r.start, end: r.end, value: r.value, pane, matched: false });
  }
}

function isKey(k: unknown): k is WindowKey {
  return typeof k === 'string' || typeof k === 'number';
}

/**
 * Pairs the windows of `view` with those of a finished batch run's
 * `batch`, without a second lookup per window: `pair(v, b)` for each
 * window of `view` (`b` undefined when `batch` lacks it), then
 * `pair(undefined, b)` for each window of `batch` that `view` lacks.
 * Marks the panes of `batch`, so pair each batch outcome once.
 */
export function pairWindows<V extends WindowValue>(
  view: Iterable<V>,
  batch: WindowMap<Pane>,
  pair: (v: V | undefined, b: Pane | undefined) => void,
): void {
  for (const v of view) {
    const b = batch.get(v.key, v.start, v.end);
    if (b) b.matched = true;
    pair(v, b);
  }
  for (const b of batch.values()) if (!b.matched) pair(undefined, b);
}

/** The windows of a view as a sorted list of plain values. */
export function sortedWindows(windows: WindowMap<WindowValue>): WindowValue[] {
  return [...windows.values()].map(({ key, start, end, value }) => ({ key, start, end, value })).sort(compareWindows);
}
