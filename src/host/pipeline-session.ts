/**
 * One open run of a pipeline inside a host, synchronous: the pipeline's
 * output adapted to results (the one place that unwraps timed output), the
 * view of latest panes, failure capture, and the counters a status shows.
 * The {@link Runner} drives it from storage; the batch layer drives it over
 * a bounded input.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Pipeline, PipelineInput, RunOptions } from '../checkpoint/pipeline.js';
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';
import { TidemarkError } from '../errors.js';
import type { LatestPanes } from '../windows/latest-panes.js';
import type { RowSource } from './store.js';

/**
 * A pipeline as clients run it: from the stream of events (each exactly the
 * `data` the log holds) to window results, ending in `windowBy(...)`,
 * optionally followed by `records()`.
 *
 * @example
 * ```ts
 * import { eventTime, windowBy, tumbling, count } from 'tidemark';
 * import type { BatchPipeline } from 'tidemark/server';
 * type Click = { page: string; ts: number };
 * export const pipeline: BatchPipeline<Click> = (events$) => events$.pipe(
 *   eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 2_000 }),
 *   windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }));
 * ```
 */
export type BatchPipeline<E = any> = (events$: Observable<E>) => Observable<unknown>;

/**
 * Calls `result` with each result of a pipeline's output: a pipeline ending
 * in `windowBy` emits timed elements (watermarks are dropped, records give
 * their value); one ending in `records()` (or anything else) emits results
 * as they are.
 */
export function resultsOf(result: (r: unknown) => void): (output: unknown) => void {
  return (output) => {
    if (typeof output === 'object' && output !== null && 'kind' in output) {
      const kind = (output as { kind: unknown }).kind;
      if (kind === 'watermark') return;
      if (kind === 'record') return result((output as unknown as { value: unknown }).value);
    }
    result(output);
  };
}

/** Counters of a run, from one pass over its operators' stats. */
export interface RunCounters {
  /** The highest event-time watermark of the pipeline's `eventTime` operators (`-Infinity` before any). */
  readonly watermark: number;
  readonly openWindows: number;
  readonly lateRecords: number;
  /** The largest `allowedLateness` of the pipeline's `windowBy` stages (0 without one). */
  readonly allowedLateness: number;
  /** Sources with a watermark of their own, and those of them active (a run with `perSource`; 0 otherwise). */
  readonly sources: number;
  readonly activeSources: number;
}

/** How a session reports. */
export interface SessionOptions {
  /** The view to keep latest panes in, if any. */
  readonly view?: LatestPanes | undefined;
  /** `'batch'` for a bounded, complete input (see `RunOptions.mode`); default `'stream'`. */
  readonly mode?: 'stream' | 'batch';
  /** Each result, in order (after the view took it). */
  readonly result?: (result: unknown) => void;
  /** The pipeline failed (called once). */
  readonly error?: (error: unknown) => void;
  /** One watermark per source, for a host that merges many clients (see `RunOptions.perSource`). */
  readonly perSource?: RunOptions['perSource'];
}

/** A pipeline run that a host feeds; its results go to the view and `options.result`. */
export class PipelineSession {
  private readonly input: PipelineInput<unknown>;
  private failedWith: { error: unknown } | undefined;

  /**
   * Opens `pipeline`, restored from `restore` when given.
   * @throws whatever restoring throws (a `SnapshotError` for a snapshot of another pipeline)
   */
  constructor(
    pipeline: Pipeline<unknown, unknown>,
    restore: PipelineSnapshot | undefined,
    private readonly options: SessionOptions = {},
  ) {
    const { view, result } = options;
    const next = resultsOf((r) => {
      view?.add(r);
      result?.(r);
    });
    this.input = pipeline.open({ next, error: (e) => this.fail(e) }, {
      ...(restore ? { restore } : {}),
      mode: options.mode ?? 'stream',
      ...(options.perSource ? { perSource: options.perSource } : {}),
    });
  }

  /** The event time the pipeline gives an input event (see `PipelineRun.timestamp`). */
  get timestamp(): ((event: never) => number) | undefined {
    return this.input.timestamp;
  }

  /** Why the run failed, or `undefined`. */
  get failure(): { readonly error: unknown } | undefined {
    return this.failedWith;
  }

  /** Marks the run failed (the first failure wins) and stops it. */
  fail(error: unknown): void {
    if (this.failedWith) return;
    this.failedWith = { error: error ?? new TidemarkError('the pipeline failed') };
    this.options.error?.(this.failedWith.error);
  }

  /** Pushes `events` in order (all from `source`, when given); answers `false` once the run has failed. */
  feed(events: readonly unknown[] | RowSource, source?: string): boolean {
    const { input } = this;
    if (this.failedWith || input.closed) return !this.failedWith;
    try {
      if (Array.isArray(events)) input.pushAll(events, source);
      else {
        const rows = events as RowSource;
        for (let i = 0; i < rows.length && !input.closed; i++) input.push(rows.row(i), source);
      }
    } catch (error) {
      this.fail(error);
    }
    return !this.failedWith;
  }

  /** Ends a bounded input: every open window fires. */
  end(): void {
    if (this.failedWith || this.input.closed) return;
    try {
      this.input.end();
    } catch (error) {
      this.fail(error);
    }
  }

  /** The pipeline's state, between two events. */
  snapshot(): PipelineSnapshot {
    return this.input.snapshot();
  }

  /** `true` once the pipeline completed, errored or was closed. */
  get closed(): boolean {
    return this.input.closed;
  }

  counters(): RunCounters {
    const c = { watermark: Number.NEGATIVE_INFINITY, openWindows: 0, lateRecords: 0, allowedLateness: 0, sources: 0, activeSources: 0 };
    if (this.input.closed) return c;
    for (const s of Object.values(this.input.stats())) {
      if (typeof s.sources === 'number') c.sources += s.sources;
      if (typeof s.activeSources === 'number') c.activeSources += s.activeSources;
      if (typeof s.allowedLateness === 'number') c.allowedLateness = Math.max(c.allowedLateness, s.allowedLateness);
      if (typeof s.watermark === 'number' && s.kind.startsWith('eventTime')) c.watermark = Math.max(c.watermark, s.watermark);
      if (typeof s.openWindows === 'number') c.openWindows += s.openWindows;
      if (typeof s.lateRecords === 'number') c.lateRecords += s.lateRecords;
    }
    return c;
  }

  close(): void {
    this.input.unsubscribe();
  }
}
