/**
 * One run of a pipeline over a bounded input, to completion: the latest
 * pane of every window.
 *
 * @internal
 * @module
 */
import type { Pipeline } from '../checkpoint/pipeline.js';
import { Runner } from '../host/runner.js';
import type { RunnerBatch, RunnerStore } from '../host/store.js';
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
 * One run of a pipeline over a bounded input, on the shared {@link Runner}
 * over an in-memory store of the input: push events (in an order in which
 * none is late), then `end()` fires every open window, and the outcome is
 * the latest pane of each window by the one rule of `paneWins` (the highest
 * pane; the later one for equal or missing pane numbers). The pipeline may
 * end in `windowBy` (timed results) or in `records()`.
 */
export class BatchRun {
  private readonly windows = new WindowMap<Pane>();
  private readonly store = new BoundedInput();
  private readonly runner: Runner;
  private started: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(pipeline: Pipeline<unknown, unknown>) {
    this.runner = new Runner({
      store: this.store,
      pipeline,
      // A batch run is re-run whole: it never checkpoints, and keeps its own windows.
      checkpoint: { everyEvents: Number.POSITIVE_INFINITY, everyMs: Number.POSITIVE_INFINITY },
      view: false,
      hooks: {
        results: (results) => {
          for (const r of results) this.add(r);
        },
        error: (error) => {
          this.failure ??= { error };
        },
      },
    });
  }

  /** Pushes `data[order[0]]`, `data[order[1]]`, …; `false` once the run has failed. */
  async push(data: readonly unknown[], order: Uint32Array): Promise<boolean> {
    if (!(await this.start())) return false;
    this.runner.notify(this.store.add(data, order));
    await this.runner.idle();
    return !this.failed;
  }

  /** Ends the input (every open window fires) and answers the windows. */
  async end(): Promise<BatchOutcome> {
    if (await this.start()) await this.runner.end();
    await this.runner.stop(false);
    return this.failed ? { ok: false, error: this.failed.error } : { ok: true, windows: this.windows };
  }

  private get failed(): { error: unknown } | undefined {
    return this.failure ?? this.runner.failure;
  }

  private async start(): Promise<boolean> {
    this.started ??= this.runner.start().catch((error: unknown) => {
      this.failure ??= { error };
    });
    await this.started;
    return !this.failed;
  }

  private add(result: unknown): void {
    const r = result as Partial<Pane> | null;
    if (typeof r !== 'object' || r === null || !isKey(r.key) || typeof r.start !== 'number' || typeof r.end !== 'number') {
      this.runner.fail(
        new TidemarkError(
          `the pipeline emitted ${describe(r)} where a window result { key, start, end, value, pane } was expected; end it with windowBy(...) (optionally followed by records())`,
        ),
      );
      return;
    }
    const pane = typeof r.pane === 'number' ? r.pane : undefined;
    this.windows.offer({ key: r.key, start: r.start, end: r.end, value: r.value, pane, matched: false });
  }
}

/** The batch run's input as a Runner store: each push is one batch, its events read through `order`. */
class BoundedInput implements RunnerStore {
  private readonly batches: RunnerBatch[] = [];
  private last = 0;

  /** Appends `data` in `order` as one batch; answers the last sequence. */
  add(data: readonly unknown[], order: Uint32Array): number {
    const seq = this.last + 1;
    this.last += order.length;
    if (order.length > 0) this.batches.push({ seq, last: this.last, events: { length: order.length, row: (i) => data[order[i]!] } });
    return this.last;
  }

  loadCheckpoint = async (): Promise<undefined> => undefined;
  writeCheckpoint = async (): Promise<void> => undefined;
  lastSeq = async (): Promise<number> => this.last;
  async readAfter(seq: number, maxBatches: number): Promise<RunnerBatch[]> {
    // Batches are consumed once, in order: drop the ones read.
    while (this.batches.length > 0 && this.batches[0]!.last <= seq) this.batches.shift();
    return this.batches.slice(0, maxBatches);
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
