/// <reference types="node" />
/**
 * The global speed layer and the serving layer of `tidemark serve
 * --pipeline`: the clients' pipeline run over every client's events as they
 * become durable in the file log, with one watermark per client
 * (`RunOptions.perSource`), on the {@link Runner}: its state, its view and
 * its log position are checkpointed together (`<data>/speed/`), so after a
 * kill -9 it resumes exactly where the checkpoint says and replays the
 * rest. Its windows, merged with the batch layer's final ones, are the
 * served view (`GET /v1/views`), whose changes are numbered, written
 * (`<data>/views/`) and pushed (`GET /v1/views/stream`).
 *
 * @module
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createPipeline, type Pipeline } from '../checkpoint/pipeline.js';
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';
import { InvalidOptionError, SnapshotError, StorageError } from '../errors.js';
import type { BatchPipeline } from '../host/pipeline-session.js';
import { Runner, type RunnerStatus } from '../host/runner.js';
import { ServingView, type ViewFilter } from '../host/serving-view.js';
import { type TailCheckpoint, TailStore } from '../host/tail-store.js';
import { ViewHub } from '../host/view-hub.js';
import type { ViewChange, ViewsResponse } from '../protocol/wire.js';
import type { WindowValue } from '../windows/identity.js';
import { type Clock, systemClock } from '../time/clock.js';
import { batchViewFile, type StoredBatchView } from './batch-view-file.js';
import { type ChangeLog, openChangeLog } from './change-log.js';
import { writeAtomically } from './durable-files.js';
import type { FileLog, LogPosition } from './file-log.js';

/** Options of {@link globalSpeedLayer}. */
export interface GlobalSpeedOptions {
  /** The data directory: `speed/` holds the checkpoint, `views/` the served view's changes, `batch/global.json` the batch view. */
  readonly dataDir: string;
  /** The log, open for writing in this process (the layer follows its appends). */
  readonly log: FileLog;
  /** The clients' pipeline. */
  readonly pipeline: BatchPipeline;
  /**
   * A client silent this long (processing time, ms) stops holding the
   * global watermark back, unless the pipeline's `eventTime` has an
   * `idleTimeout` of its own (default 60 000).
   */
  readonly idleTimeout?: number;
  /**
   * Checkpoint after this many events or ms (defaults 100 000 and 5 000): a
   * checkpoint writes the whole view, and a restart replays the log after it.
   */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /** Windows the served view keeps (default 100 000; those that ended first go beyond it). */
  readonly maxWindows?: number;
  readonly clock?: Clock;
  /** Called when processing fails (a pipeline error, a checkpoint write). */
  readonly onError?: (error: unknown) => void;
}

/** The global speed layer with its served view. */
export interface GlobalSpeedLayer {
  /** The rows passing `filter`, and the id of the last change. */
  rows(filter: ViewFilter): ViewsResponse;
  /** A Server-Sent Events stream of the view's changes after `after` (see `GET /v1/views/stream`). */
  stream(after: number | undefined, filter: ViewFilter, onClose?: () => void): ReadableStream<Uint8Array>;
  /** Reads the batch layer's view (`batch/global.json`) again if it changed, and pushes what it changes. */
  refreshBatch(): Promise<void>;
  /**
   * Takes a batch view computed elsewhere (a `reconcile` report's `global`
   * and `frontier`, from any batch job): stores it as the batch layer's view
   * (`batch/global.json`, what `tidemark serve`'s own batch runs write) and
   * pushes what it changes.
   */
  setBatchView(view: { readonly windows: readonly WindowValue[]; readonly frontier: number; readonly startedAt?: number }): Promise<void>;
  /** Resolves once every event appended so far is processed and its changes pushed. */
  idle(): Promise<void>;
  status(): GlobalSpeedStatus;
  /** Prometheus text for `/metrics`. */
  metrics(): string;
  /** Stops following the log, writes a last checkpoint, ends the streams. */
  close(): Promise<void>;
}

/** What the global speed layer reports. */
export interface GlobalSpeedStatus extends RunnerStatus {
  /** Rows of the served view, subscribers connected, changes pushed since start, id of the last change. */
  readonly viewRows: number;
  readonly subscribers: number;
  readonly changes: number;
  readonly lastEventId: number;
  /** The batch layer's frontier: windows starting before it are final. */
  readonly batchFrontier: number;
}

const CATCH_UP_EVENTS = 1 << 16;
const DEFAULT_MAX_WINDOWS = 100_000;

/**
 * Starts the global speed layer over `options.log`: restores its checkpoint,
 * replays the log after it (without pushing), brings subscribers up to date
 * with the changes that replay made, then follows new appends. Start it
 * before the server accepts ingest.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { count, eventTime, tumbling, windowBy } from 'tidemark';
 * import { fileLog, globalSpeedLayer } from 'tidemark/server';
 * const dataDir = mkdtempSync(join(tmpdir(), 'tidemark-'));
 * const log = await fileLog(join(dataDir, 'log'));
 * const speed = await globalSpeedLayer({ dataDir, log, pipeline: (events$) => events$.pipe(
 *   eventTime({ timestamp: (e: { ts: number }) => e.ts, maxOutOfOrderness: 0 }),
 *   windowBy({ key: () => 'all', window: tumbling(1_000), aggregate: count() })) });
 * await log.append('phone', [{ seq: 1, ts: 100, data: { ts: 100 } }, { seq: 2, ts: 1_500, data: { ts: 1_500 } }], Date.now());
 * await speed.idle();
 * console.log(speed.rows({}).rows); // [{ key: 'all', start: 0, end: 1000, value: 1, source: 'speed', final: false, version: 1 }]
 * await speed.close();
 * await log.close();
 * ```
 */
export async function globalSpeedLayer(options: GlobalSpeedOptions): Promise<GlobalSpeedLayer> {
  if (typeof options?.log?.follow !== 'function')
    throw new InvalidOptionError('globalSpeedLayer.log', 'expected the file log this process writes (await fileLog(dir))');
  const clock = options.clock ?? systemClock;
  const changeLog: ChangeLog = await openChangeLog(join(options.dataDir, 'views'));
  const view = new ServingView(changeLog.rows, changeLog.lastId, options.maxWindows ?? DEFAULT_MAX_WINDOWS);
  const hub = new ViewHub(view, changeLog.recent, { clock });
  await mkdir(join(options.dataDir, 'speed'), { recursive: true });
  const store = fileTailStore(join(options.dataDir, 'speed', 'checkpoint.json'));
  let live = false;
  const push = (changes: ViewChange[]) => {
    if (changes.length === 0) return;
    changeLog.append(changes, () => view.rows());
    hub.publish(changes);
  };
  const pipeline = createPipeline(options.pipeline as BatchPipeline) as Pipeline<unknown, unknown>;
  const runner = new Runner({
    store,
    pipeline,
    clock,
    view: { maxWindows: options.maxWindows ?? DEFAULT_MAX_WINDOWS, encoding: 'entries' },
    perSource: { idleTimeout: options.idleTimeout ?? 60_000 },
    checkpoint: { everyEvents: 100_000, everyMs: 5_000, ...options.checkpoint },
    hooks: {
      results: (fired) => {
        const changes = view.speedResults(fired, !live);
        if (live) push(changes);
      },
      error: (e) => options.onError?.(e),
    },
  });

  // The batch view first, quietly: the resync below sends what it changes.
  let batchVersion = '';
  const readBatch = async (quiet: boolean, force = false) => {
    const file = batchViewFile(options.dataDir);
    const s = await stat(file).catch(() => undefined);
    if (!s) return;
    const version = `${s.mtimeMs}:${s.size}`;
    if (version === batchVersion && !force) return;
    batchVersion = version;
    const stored = JSON.parse(await readFile(file, 'utf8')) as StoredBatchView;
    const changes = view.setBatch(stored.windows, stored.frontier ?? Number.NEGATIVE_INFINITY, quiet);
    push(changes);
  };
  await readBatch(true);

  try {
    await runner.start();
  } catch (e) {
    await changeLog.close();
    if (!(e instanceof SnapshotError)) throw e;
    throw new SnapshotError(
      `the global speed layer's checkpoint (${join(options.dataDir, 'speed')}) was made by another pipeline: ${e.message}. ` +
        'To run this pipeline from the start of the log, stop the server and delete that directory (the log and the views are kept; ' +
        'the view is then recomputed and the differences pushed to subscribers).',
      { cause: e },
    );
  }
  view.speedResults(runner.entries(), true);
  let events = 0;
  for await (const frame of options.log.frames(store.position)) {
    runner.offer(store.add(frame.events.map((e) => e.data), frame.clientId, frame.end));
    events += frame.events.length;
    if (events >= CATCH_UP_EVENTS) {
      events = 0;
      await runner.idle();
    }
  }
  await runner.idle();
  const failed = runner.failure;
  if (failed) throw failed.error;
  live = true;
  push(view.resync());
  const unfollow = options.log.follow((frames) => {
    for (const f of frames) runner.offer(store.add(f.events.map((e) => e.data), f.clientId, f.end));
  });

  return {
    rows: (filter) => ({ rows: view.rows(filter), lastEventId: view.lastId }),
    stream: (after, filter, onClose) => hub.stream(after, filter, onClose),
    refreshBatch: () => readBatch(false, false),
    async setBatchView(batch) {
      const stored: StoredBatchView = {
        startedAt: batch.startedAt ?? clock.now(),
        frontier: Number.isFinite(batch.frontier) ? batch.frontier : null,
        windows: batch.windows,
      };
      await mkdir(join(options.dataDir, 'batch'), { recursive: true });
      await writeAtomically(batchViewFile(options.dataDir), JSON.stringify(stored));
      await readBatch(false, true);
    },
    idle: () => runner.idle(),
    status: () => ({
      ...runner.status(),
      viewRows: view.size,
      subscribers: hub.size,
      changes: hub.published,
      lastEventId: view.lastId,
      batchFrontier: view.batchFrontier,
    }),
    metrics: () => speedMetrics(runner.status(), view, hub, clock.now()),
    async close() {
      unfollow();
      await runner.stop(true);
      hub.close();
      await changeLog.close();
    },
  };
}

/** The Runner's store over the file log, its checkpoint in `file` (written atomically). */
function fileTailStore(file: string): TailStore<LogPosition> {
  return new TailStore<LogPosition>({
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StorageError(`cannot read the global speed layer's checkpoint ${file}: ${(e as Error).message}`, { cause: e });
      }
      return JSON.parse(text) as TailCheckpoint<LogPosition> & { snapshot: PipelineSnapshot };
    },
    save: (checkpoint) => writeAtomically(file, JSON.stringify(checkpoint)),
  });
}

export function speedMetrics(s: RunnerStatus, view: ServingView, hub: ViewHub, now: number): string {
  const wm = Number.isFinite(s.watermark) ? s.watermark : 0;
  const lines = [
    '# HELP tidemark_global_watermark_seconds The global speed layer\'s watermark, in seconds since the epoch: the minimum over active clients (0 before any).',
    '# TYPE tidemark_global_watermark_seconds gauge',
    `tidemark_global_watermark_seconds ${wm / 1000}`,
    '# HELP tidemark_global_watermark_lag_seconds How far the global watermark is behind the server clock.',
    '# TYPE tidemark_global_watermark_lag_seconds gauge',
    `tidemark_global_watermark_lag_seconds ${Number.isFinite(s.watermark) ? (now - s.watermark) / 1000 : 0}`,
    '# HELP tidemark_global_sources Clients with a watermark in the global speed layer, by state.',
    '# TYPE tidemark_global_sources gauge',
    `tidemark_global_sources{state="active"} ${s.activeSources}`,
    `tidemark_global_sources{state="idle"} ${s.sources - s.activeSources}`,
    '# HELP tidemark_global_late_records_total Records behind the global watermark beyond the allowed lateness (the batch layer folds them in).',
    '# TYPE tidemark_global_late_records_total counter',
    `tidemark_global_late_records_total ${s.lateRecords}`,
    '# HELP tidemark_global_open_windows Windows open in the global speed layer (its state size).',
    '# TYPE tidemark_global_open_windows gauge',
    `tidemark_global_open_windows ${s.openWindows}`,
    '# HELP tidemark_global_processed_events Events of the log processed by the global speed layer since its first start.',
    '# TYPE tidemark_global_processed_events gauge',
    `tidemark_global_processed_events ${s.processed}`,
    '# HELP tidemark_view_rows Rows of the served view.',
    '# TYPE tidemark_view_rows gauge',
    `tidemark_view_rows ${view.size}`,
    '# HELP tidemark_view_subscribers Server-Sent Events streams of the view open now.',
    '# TYPE tidemark_view_subscribers gauge',
    `tidemark_view_subscribers ${hub.size}`,
    '# HELP tidemark_view_changes_total Changes of the served view pushed since the server started.',
    '# TYPE tidemark_view_changes_total counter',
    `tidemark_view_changes_total ${hub.published}`,
  ];
  return `${lines.join('\n')}\n`;
}
