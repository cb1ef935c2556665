/// <reference types="node" />
/**
 * The batch layer as the CLI runs it over a data directory: one batch run
 * at a time across processes (the batch lock), runs requested while one is
 * under way served by the next, the stores opened per run.
 *
 * @internal
 * @module
 */
import { join } from 'node:path';
import { BatchRunningError } from '../errors.js';
import type { EventLog } from '../host/ingest/log.js';
import { type Clock, sleep, systemClock } from '../time/clock.js';
import type { CorrectionStore } from './corrections-store.js';
import { type DirLock, lockDir } from './file-lock.js';
import type { FileLog } from './file-log.js';
import { type BatchPipeline, type ReconcileReport, reconcile } from './reconcile.js';
import { batchView, frozenThrough, type RetentionReport, RunWindows, retain } from './retention.js';
import { batchViewFile, type StoredBatchView } from './batch-view-file.js';
import { writeAtomically } from './durable-files.js';
import type { ResultStore } from './results-store.js';

/** What one batch run reads and writes; `release` closes what the run opened. */
export interface BatchInputs {
  readonly log: EventLog;
  readonly results: ResultStore;
  readonly corrections: CorrectionStore;
  release(): Promise<void>;
}

/** Options of {@link batchLayer}. */
export interface BatchLayerOptions {
  /** The data directory: its `batch/LOCK` keeps a second batch run out, in any process. */
  readonly dataDir: string;
  readonly pipeline: BatchPipeline;
  /** Opens the stores for one run, once the batch lock is held. */
  open(): Promise<BatchInputs>;
  /** Time: the corrections' `at`, and the waits of `waitEveryMs` (default the system's). */
  readonly clock?: Clock;
  /**
   * While another process holds the batch lock: try again this often (ms),
   * calling `onWait` with its `BatchRunningError` once, instead of
   * rejecting with it (`tidemark reconcile` waits; the server does not).
   */
  readonly waitEveryMs?: number;
  readonly onWait?: (err: BatchRunningError) => void;
  /**
   * A retention horizon: after each run without failures, the sealed
   * segments of `log` older than `horizonMs` whose events feed only final
   * windows are deleted, their windows persisted and frozen (see `retain`),
   * and then the result and correction stores compacted.
   */
  readonly retention?: { readonly log: FileLog; readonly horizonMs: number };
  /**
   * Runs the batch layer another way than one {@link reconcile} under the
   * data directory's lock: a server cluster (`serve --nats`) runs it per
   * partition it owns, and publishes each partition's batch view to the
   * cluster instead of `batch/global.json`.
   */
  readonly run?: (inputs: BatchInputs, now: () => number) => Promise<BatchReport>;
}

/** A batch run's report, with what retention did after it. */
export type BatchReport = ReconcileReport & { readonly retention?: RetentionReport };

/** Runs of the batch layer over one data directory. */
export interface BatchLayer {
  /**
   * Runs the batch layer and resolves with its report. A call made while a
   * run is under way in this process gets the next run, which starts when
   * that one ends (calls made meanwhile share it): every call's run reads
   * the log as it was after the call. Rejects with a `BatchRunningError`
   * when another process holds the batch lock (unless `waitEveryMs`).
   */
  run(): Promise<BatchReport>;
  /**
   * Runs the batch layer every `ms` on the layer's clock, handing each
   * outcome to `done` (a report, or why the run failed: a
   * `BatchRunningError` when another process held the lock). A tick during
   * a run asks for the next one, as {@link BatchLayer.run} does. Answers a
   * function that stops the schedule.
   */
  every(ms: number, done: (outcome: { report: BatchReport } | { error: unknown }) => void): () => void;
  /** Waits for the runs under way or asked for. */
  idle(): Promise<void>;
}

/**
 * The batch layer over `options.dataDir`: {@link reconcile} under the batch
 * lock (`<data>/batch/LOCK`), so that `tidemark serve --pipeline` and
 * `tidemark reconcile` never overlap; a run that died (kill -9) left a lock
 * the next one takes over, and that run completes the work (it writes every
 * correction the dead one did not).
 */
export function batchLayer(options: BatchLayerOptions): BatchLayer {
  let current: Promise<BatchReport> | undefined;
  let next: Promise<BatchReport> | undefined;

  const clock = options.clock ?? systemClock;
  const lock = async (): Promise<DirLock> => {
    for (let waited = false; ; waited = true) {
      try {
        return await lockDir(join(options.dataDir, 'batch'), 'batch');
      } catch (err) {
        if (!(err instanceof BatchRunningError) || options.waitEveryMs === undefined) throw err;
        if (!waited) options.onWait?.(err);
        await sleep(clock, options.waitEveryMs);
      }
    }
  };

  const once = async (): Promise<BatchReport> => {
    if (options.run) {
      const inputs = await options.open();
      try {
        return await options.run(inputs, () => clock.now());
      } finally {
        await inputs.release();
      }
    }
    const held = await lock();
    try {
      const inputs = await options.open();
      try {
        const windows = options.retention ? new RunWindows() : undefined;
        const report = await reconcile({
          log: inputs.log,
          pipeline: options.pipeline,
          results: inputs.results,
          corrections: inputs.corrections,
          now: () => clock.now(),
          frozenThrough: await frozenThrough(options.dataDir),
          ...(windows ? { onWindows: windows.onWindows } : {}),
        });
        if (!options.retention || !windows) {
          await publishBatchView(options.dataDir, report);
          return report;
        }
        const retention = await retain({ dataDir: options.dataDir, ...options.retention, report, windows, now: clock.now() });
        if (retention.segments > 0) {
          // Compaction: the results of frozen windows go, and superseded corrections.
          await inputs.results.compact?.(retention.frozenThrough);
          await inputs.corrections.compact?.();
        }
        await publishBatchView(options.dataDir, report);
        return { ...report, retention };
      } finally {
        await inputs.release();
      }
    } finally {
      await held.release();
    }
  };

  const start = (): Promise<BatchReport> => {
    const run = once();
    current = run;
    const clear = () => {
      if (current === run) current = undefined;
    };
    run.then(clear, clear);
    return run;
  };

  const layer: BatchLayer = {
    run() {
      if (!current) return start();
      next ??= current.then(
        () => undefined,
        () => undefined,
      ).then(() => {
        next = undefined;
        return start();
      });
      return next;
    },
    every(ms, done) {
      let cancel: (() => void) | undefined;
      let stopped = false;
      const tick = () => {
        if (stopped) return;
        cancel = clock.timeout(() => {
          layer.run().then(
            (report) => done({ report }),
            (error: unknown) => done({ error }),
          );
          tick();
        }, ms);
      };
      tick();
      return () => {
        stopped = true;
        cancel?.();
      };
    },
    async idle() {
      while (current || next) await Promise.allSettled([current, next]);
    },
  };
  return layer;
}

/**
 * Leaves the run's view over all clients (and the windows retention froze)
 * in `batch/global.json`, where the serving layer of `tidemark serve` reads
 * it: the batch half of the served view. Not after a failed global run.
 */
async function publishBatchView(dataDir: string, report: ReconcileReport): Promise<void> {
  if (report.failures.some((f) => f.clientId === undefined)) return;
  const frozen = (await batchView(dataDir, null)).map(({ key, start, end, value }) => ({ key, start, end, value }));
  const stored: StoredBatchView = {
    startedAt: report.startedAt,
    frontier: Number.isFinite(report.frontier) ? report.frontier : null,
    windows: [...frozen, ...report.global],
  };
  await writeAtomically(batchViewFile(dataDir), JSON.stringify(stored));
}
