/**
 * `reconcile`: the batch layer. Re-runs the clients' own pipeline over the
 * complete log and corrects the window results they uploaded.
 *
 * @module
 */
import { createPipeline, type Pipeline } from '../checkpoint/pipeline.js';
import { describe, errorParts, InvalidOptionError } from '../errors.js';
import { requireFunction, requireObject } from '../options.js';
import type { Correction } from '../protocol/wire.js';
import { BatchRun, type Pane, pairWindows, sortedWindows } from './batch-run.js';
import type { CorrectionEntry, CorrectionStore } from './corrections-store.js';
import { sameJson, toJson } from '../protocol/json.js';
import type { EventLog } from '../host/ingest/log.js';
import { type ClientEvents, clientGroups, DEFAULT_MAX_EVENTS, feedInTimeOrder, type ReadStats, TimeSample } from './log-passes.js';
import type { ResultStore } from './results-store.js';
import { timeOrder } from './time-order.js';
import { compareWindows, WindowMap, type WindowValue } from '../windows/identity.js';

export type { BatchPipeline } from '../host/pipeline-session.js';
import type { BatchPipeline } from '../host/pipeline-session.js';

/** Options of {@link reconcile}. */
export interface ReconcileOptions<E = any> {
  /** The log of every client's events. */
  readonly log: EventLog;
  /** The same pipeline function the clients run (see {@link loadPipeline}). */
  readonly pipeline: BatchPipeline<E>;
  /** The clients' uploaded results (the speed layer). */
  readonly results: ResultStore;
  /** Where corrections go. */
  readonly corrections: CorrectionStore;
  /** Clock for the corrections' `at` and the report's `startedAt` (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Most events held in memory at once (default 2 000 000), except that one
   * client's events are always held together. Above it the log is read in
   * several passes: see {@link ReconcileReport.passes}.
   */
  readonly maxEventsInMemory?: number;
}

/** A client (or the global run) whose pipeline failed; its windows were left alone. */
export interface ReconcileFailure {
  /** The client, or `undefined` for the global run. */
  readonly clientId: string | undefined;
  readonly name: string;
  readonly message: string;
}

/** What one {@link reconcile} run did. */
export interface ReconcileReport {
  /** When the run started (`now()`): the `at` of every correction it wrote. */
  readonly startedAt: number;
  /** Clients reconciled: those in the log, and those with uploaded results only. */
  readonly clients: number;
  /** Events read. */
  readonly events: number;
  /** Windows in the clients' batch views, summed. */
  readonly windows: number;
  /** Uploaded windows compared, summed over clients. */
  readonly uploaded: number;
  /** Corrections written. */
  readonly written: number;
  /** Differences not written again: the latest correction of that window already says the same. */
  readonly skipped: number;
  /** Every window of one run over all clients' events together, sorted by key, then start. */
  readonly global: readonly WindowValue[];
  /** Clients (or the global run) whose pipeline failed. */
  readonly failures: readonly ReconcileFailure[];
  /** Passes over the log: 1 when it fits in `maxEventsInMemory`. */
  readonly passes: number;
  readonly durationMs: number;
  /** `events` per second of `durationMs`. */
  readonly eventsPerSecond: number;
}

/**
 * Reconciles every client: runs `pipeline` over the client's complete log,
 * compares the result (the batch view) with the results the client
 * uploaded (the speed view), and writes a correction
 * `{ key, start, end, speed, batch }` for each window whose values differ
 * as JSON, including windows the client never uploaded (`speed: null`) and
 * uploaded windows the batch view lacks (`batch: null`). A correction equal
 * to the latest one stored for its window is skipped, so a second run over
 * the same inputs writes nothing; a window whose uploaded value now equals
 * the batch value needs none. Also runs the pipeline once over all clients'
 * events together: the report's `global` view (the caller decides where it
 * goes).
 *
 * Batch runs see each client's events sorted by the wire event time `ts`
 * (ties by sequence number), so that none is late, whatever order the
 * client saw them in; the pipeline's completion fires every open window.
 * This assumes the pipeline's `eventTime` reads the same time as `ts`; an
 * event whose pipeline time differs from it by more than the pipeline's
 * `maxOutOfOrderness` can be late in the batch run too.
 *
 * Memory: at most `maxEventsInMemory` events are held (one client's always
 * are, however many); with a larger log, one pass per group of clients and
 * one per range of event times.
 *
 * @param options - see {@link ReconcileOptions}
 * @throws {@link InvalidOptionError} for invalid options
 * @example
 * ```ts
 * import { eventTime, windowBy, tumbling, count } from 'tidemark';
 * import { memoryLog, memoryResults, memoryCorrections, reconcile } from 'tidemark/server';
 * const log = memoryLog();
 * await log.append('c1', [{ seq: 1, ts: 1_000, data: { page: '/', ts: 1_000 } },
 *                         { seq: 2, ts: 500, data: { page: '/', ts: 500 } }], Date.now());
 * const results = memoryResults();
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 1, pane: 0 }], Date.now());
 * const corrections = memoryCorrections();
 * const report = await reconcile({ log, results, corrections,
 *   pipeline: (events$) => events$.pipe(
 *     eventTime({ timestamp: (e: { page: string; ts: number }) => e.ts, maxOutOfOrderness: 0 }),
 *     windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() })) });
 * console.log(report.written, corrections.since('c1', 0).corrections[0]); // 1 { …, speed: 1, batch: 2 }
 * ```
 * @see {@link replay}, {@link loadPipeline}
 */
export async function reconcile<E = any>(options: ReconcileOptions<E>): Promise<ReconcileReport> {
  validate(options);
  const { log, results, corrections } = options;
  const maxEvents = options.maxEventsInMemory ?? DEFAULT_MAX_EVENTS;
  const started = performance.now();
  const startedAt = (options.now ?? Date.now)();
  const pipeline = createPipeline(options.pipeline as BatchPipeline) as Pipeline<unknown, unknown>;

  const progress = log.clients();
  const total = progress.reduce((n, c) => n + c.events, 0);
  // When the log fits, the one pass that loads it feeds the global run too.
  const single = total <= maxEvents;
  const sample = single ? undefined : new TimeSample(total);
  const stats: ReadStats = { passes: 0, events: 0 };
  const global = new BatchRun(pipeline);
  const failures: ReconcileFailure[] = [];
  const counts = { windows: 0, uploaded: 0, written: 0, skipped: 0 };
  const fail = (clientId: string | undefined, error: unknown) => failures.push({ clientId, ...errorParts(error) });

  for await (const group of clientGroups(log, progress, maxEvents, stats, sample && ((ts) => sample.add(ts)))) {
    if (single) {
      const { data, ts } = concat(group);
      await global.push(data, timeOrder(ts));
    }
    const pending: CorrectionEntry[] = [];
    for (const c of group) {
      const run = new BatchRun(pipeline);
      await run.push(c.data, c.order());
      // Release the client's events before the next one is run.
      c.release();
      const outcome = await run.end();
      if (!outcome.ok) {
        fail(c.clientId, outcome.error);
        continue;
      }
      counts.windows += outcome.windows.size;
      for (const e of clientCorrections(c.clientId, outcome.windows, results, corrections, startedAt, counts)) pending.push(e);
    }
    counts.written += await writeCorrections(corrections, pending);
  }

  // Clients that uploaded results but have no events in the log: every window is wrong.
  const logged = new Set(progress.map((c) => c.clientId));
  const orphans = results.clients().filter((id) => !logged.has(id));
  const pending: CorrectionEntry[] = [];
  for (const clientId of orphans)
    for (const e of clientCorrections(clientId, new WindowMap(), results, corrections, startedAt, counts)) pending.push(e);
  counts.written += await writeCorrections(corrections, pending);

  if (!single) await feedInTimeOrder(log, logged, sample!.boundaries(total, maxEvents), global, stats);
  const outcome = await global.end();
  if (!outcome.ok) fail(undefined, outcome.error);

  const durationMs = performance.now() - started;
  return {
    startedAt,
    clients: progress.length + orphans.length,
    events: stats.events,
    ...counts,
    global: outcome.ok ? sortedWindows(outcome.windows) : [],
    failures,
    passes: stats.passes,
    durationMs,
    eventsPerSecond: durationMs > 0 ? stats.events / (durationMs / 1_000) : 0,
  };
}

/** Corrections per `write`: each write is one line of a file store, all or nothing, so it stays well below V8's longest string. */
const WRITE_CHUNK = 10_000;

/** Writes `entries` in chunks issued together (a file store syncs them together); answers how many were written. */
async function writeCorrections(store: CorrectionStore, entries: readonly CorrectionEntry[]): Promise<number> {
  const writes: Promise<readonly unknown[]>[] = [];
  for (let i = 0; i < entries.length; i += WRITE_CHUNK) writes.push(store.write(entries.slice(i, i + WRITE_CHUNK)));
  return (await Promise.all(writes)).reduce((n, w) => n + w.length, 0);
}

/** All clients' events in one pair of arrays (client after client). */
function concat(group: readonly ClientEvents[]): { data: unknown[]; ts: Float64Array } {
  const n = group.reduce((sum, c) => sum + c.length, 0);
  const data = new Array<unknown>(n);
  const ts = new Float64Array(n);
  let at = 0;
  for (const c of group) {
    ts.set(c.times(), at);
    for (let i = 0; i < c.length; i++) data[at++] = c.data[i];
  }
  return { data, ts };
}

/** The corrections one client needs, less those its latest stored ones already say. */
function clientCorrections(
  clientId: string,
  batch: WindowMap<Pane>,
  results: ResultStore,
  store: CorrectionStore,
  at: number,
  counts: { uploaded: number; skipped: number },
): CorrectionEntry[] {
  const speed = results.get(clientId);
  counts.uploaded += speed.length;
  const differences: CorrectionEntry[] = [];
  pairWindows(speed, batch, (s, b) => {
    const w = (s ?? b)!;
    if (!sameJson(b ? b.value : null, s ? s.value : null))
      differences.push({ clientId, key: w.key, start: w.start, end: w.end, speed: s ? s.value : null, batch: b ? toJson(b.value) : null, at });
  });
  if (differences.length === 0) return [];
  differences.sort(compareWindows);
  const latest = new WindowMap<Correction>();
  for (const c of store.latest(clientId)) latest.set(c);
  return differences.filter((d) => {
    const last = latest.get(d.key, d.start, d.end);
    const repeat = last !== undefined && sameJson(last.speed, d.speed) && sameJson(last.batch, d.batch);
    if (repeat) counts.skipped++;
    return !repeat;
  });
}

function validate(o: ReconcileOptions): void {
  requireObject('reconcile', o);
  requireLog('reconcile.log', o.log);
  requireFunction('reconcile.pipeline', o.pipeline, 'pass the pipeline function the clients run: (events$) => events$.pipe(...)');
  if (typeof o.results?.get !== 'function' || typeof o.results.clients !== 'function')
    throw new InvalidOptionError('reconcile.results', 'expected a ResultStore, e.g. memoryResults() or await fileResults(dir)');
  if (typeof o.corrections?.write !== 'function' || typeof o.corrections.latest !== 'function')
    throw new InvalidOptionError('reconcile.corrections', 'expected a CorrectionStore, e.g. memoryCorrections() or await fileCorrections(dir)');
  if (o.now !== undefined) requireFunction('reconcile.now', o.now, 'omit it or pass () => Date.now()');
  requireMaxEvents('reconcile.maxEventsInMemory', o.maxEventsInMemory);
}

/** @internal */
export function requireLog(option: string, log: unknown): void {
  const l = log as Partial<EventLog> | null | undefined;
  if (typeof l?.read !== 'function' || typeof l.clients !== 'function')
    throw new InvalidOptionError(option, 'expected an EventLog, e.g. memoryLog()');
}

/** @internal */
export function requireMaxEvents(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !(value >= 1)))
    throw new InvalidOptionError(option, `must be a number >= 1 (events) or Infinity, got ${describe(value)}`);
}
