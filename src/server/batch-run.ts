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
import { compareWindows, type WindowValue } from '../windows/identity.js';
import { WindowIndex } from './window-index.js';

/**
 * A window's latest pane as a batch run keeps it: the result object the
 * pipeline emitted, as it is (not copied: a run fires millions of them).
 */
export interface Pane extends WindowValue {
  readonly pane?: number | undefined;
}

/** What a finished batch run gives: its windows by id and the pipeline's largest allowed lateness, or why it failed. */
export type BatchOutcome =
  | { readonly ok: true; readonly windows: WindowIndex<Pane>; readonly allowedLateness: number }
  | { readonly ok: false; readonly error: unknown };

/**
 * One run of a pipeline over a bounded input, on the shared {@link Runner}
 * over an in-memory store of the input, in batch mode (`RunOptions.mode`):
 * push events in any order (watermarks are held, so none is late), then
 * `end()` fires every open window once, complete, and the outcome is
 * the latest pane of each window by the one rule of `paneWins` (the highest
 * pane; the later one for equal or missing pane numbers). The pipeline may
 * end in `windowBy` (timed results) or in `records()`.
 */
export class BatchRun {
  private readonly windows = new WindowIndex<Pane>();
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
      mode: 'batch',
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

  /** Pushes `events` (in any order); `false` once the run has failed. */
  async push(events: readonly unknown[]): Promise<boolean> {
    if (!(await this.start())) return false;
    this.runner.notify(this.store.add(events));
    await this.runner.idle();
    // Drop what was run now, not at the next push: a long-lived run (the global
    // view) would otherwise keep each input alive until the next one came.
    this.store.drop(this.runner.processed);
    return !this.failed;
  }

  /** Ends the input (every open window fires) and answers the windows. */
  async end(): Promise<BatchOutcome> {
    let allowedLateness = 0;
    if (await this.start()) {
      ({ allowedLateness } = this.runner.status());
      await this.runner.end();
    }
    await this.runner.stop(false);
    return this.failed ? { ok: false, error: this.failed.error } : { ok: true, windows: this.windows, allowedLateness };
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
    // Kept as emitted: a copy per window cost more than the rest of add().
    this.windows.offer(r as Pane);
  }
}

/** The batch run's input as a Runner store: each push is one batch. */
class BoundedInput implements RunnerStore {
  private readonly batches: RunnerBatch[] = [];
  private last = 0;

  /** Appends `events` as one batch; answers the last sequence. */
  add(events: readonly unknown[]): number {
    const seq = this.last + 1;
    this.last += events.length;
    if (events.length > 0) this.batches.push({ seq, last: this.last, events });
    return this.last;
  }

  loadCheckpoint = async (): Promise<undefined> => undefined;
  writeCheckpoint = async (): Promise<void> => undefined;
  lastSeq = async (): Promise<number> => this.last;

  /** Drops the batches up to `seq` (processed). */
  drop(seq: number): void {
    while (this.batches.length > 0 && this.batches[0]!.last <= seq) this.batches.shift();
  }

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
 * The windows of `view` must be distinct (a view holds one value per window).
 */
export function pairWindows<V extends WindowValue>(
  view: Iterable<V>,
  batch: WindowIndex<Pane>,
  pair: (v: V | undefined, b: Pane | undefined) => void,
): void {
  const matched = new Uint8Array(batch.size);
  let found = 0;
  for (const v of view) {
    const i = batch.indexOf(v.key, v.start, v.end);
    if (i < 0) pair(v, undefined);
    else {
      matched[i] = 1;
      found++;
      pair(v, batch.at(i));
    }
  }
  if (found < batch.size) for (let i = 0; i < batch.size; i++) if (matched[i] === 0) pair(undefined, batch.at(i));
}

/** The windows of a view as a sorted list of plain values. */
export function sortedWindows(windows: WindowIndex<Pane>): WindowValue[] {
  return [...windows.values()].map(({ key, start, end, value }) => ({ key, start, end, value })).sort(compareWindows);
}
