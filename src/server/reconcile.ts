/**
 * `reconcile`: the batch layer. Re-runs the clients' own pipeline over the
 * complete log and corrects the window results they uploaded.
 *
 * @module
 */
import { createPipeline, type Pipeline } from '../checkpoint/pipeline.js';
import { describe, errorParts, InvalidOptionError } from '../errors.js';
import { requireFunction, requireObject } from '../options.js';
import { isClientId } from '../protocol/validate.js';
import type { Correction } from '../protocol/wire.js';
import { BatchRun, type Pane, pairWindows, sortedWindows } from './batch-run.js';
import type { CorrectionEntry, CorrectionStore } from './corrections-store.js';
import { sameJson, toJson } from '../protocol/json.js';
import type { EventLog } from '../host/ingest/log.js';
import { WindowIndex } from './window-index.js';
import { clientGroups, DEFAULT_MAX_EVENTS, type ReadStats } from './log-passes.js';
import type { ClientReport, ResultStore } from './results-store.js';
import { compareWindows, WindowMap, type WindowRef, type WindowValue } from '../windows/identity.js';

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
  /** Clock for the corrections' `at`, the report's `startedAt` and `durationMs` (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Most events held in memory at once (default 2 000 000), except that one
   * client's events are always held together. Each client is run as soon as
   * all its events are read, so a log that keeps a client's events together
   * (the memory log; a file log written a client at a time) is read in one
   * pass holding about one client's events; when clients interleave and
   * those in flight would exceed it, the others wait for a later pass: see
   * {@link ReconcileReport.passes}.
   */
  readonly maxEventsInMemory?: number;
  /**
   * A client silent this long (ms since its last upload reached the server)
   * has every window treated as final (default 7 days): a device that never
   * comes back still gets its windows corrected.
   */
  readonly silenceHorizonMs?: number;
  /**
   * Retention: windows starting at or before this time are frozen (their
   * events may be gone from the log): not compared, not corrected, left out
   * of `global`; counted in {@link ReconcileReport.frozen}. Default: none.
   */
  readonly frozenThrough?: number;
  /**
   * Called with each client's batch windows (and once with `undefined` for
   * the run over all clients), those not frozen, as the run finds them:
   * what retention persists before the events behind them go.
   */
  readonly onWindows?: (clientId: string | undefined, windows: Iterable<WindowValue>) => void;
  /**
   * Reconcile this client only (its events are read with
   * `log.read({ clientId })`); `global` is then the run over its events
   * alone. Default: every client.
   */
  readonly clientId?: string;
}

/** The default {@link ReconcileOptions.silenceHorizonMs}: 7 days. */
export const DEFAULT_SILENCE_HORIZON_MS = 7 * 24 * 3_600_000;

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
  /**
   * Differences left for a later run: the window is not final for its
   * client yet (its watermark has not reached `end + allowedLateness`, and
   * it was heard of within `silenceHorizonMs`), so the client may still fire it.
   */
  readonly pending: number;
  /** Every window of one run over all clients' events together, sorted by key, then start (none frozen). */
  readonly global: readonly WindowValue[];
  /** Windows left alone because they start at or before `frozenThrough` (retention). */
  readonly frozen: number;
  /**
   * How far the batch layer is final: every window of every client that
   * starts before this time was final for its client in this run (the
   * earliest start of a window not final yet; a client with all windows final
   * counts the end of its last one). `frozenThrough` (`-Infinity` by
   * default, `null` in JSON) when a pipeline failed or no client had a
   * window; never below `frozenThrough`. Retention deletes only events
   * whose time is before it.
   */
  readonly frontier: number;
  /** Clients (or the global run) whose pipeline failed. */
  readonly failures: readonly ReconcileFailure[];
  /**
   * Passes over the log: 1 when it fits in `maxEventsInMemory`, or when each
   * client's events come together; plus one per client with more events
   * than that (read alone).
   */
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
 * as JSON and that is **final for the client** (its uploaded watermark has
 * reached `end + allowedLateness`, the largest of the pipeline's `windowBy`
 * stages, or it has been silent for `silenceHorizonMs`): windows the client
 * never uploaded (`speed: null`) and uploaded windows the batch view lacks
 * (`batch: null`) included. A difference in a window not final yet is left
 * for a later run (`pending`): the client may still fire it. A correction equal
 * to the latest one stored for its window is skipped, so a second run over
 * the same inputs writes nothing; a window whose uploaded value now equals
 * the batch value needs none. Also runs the pipeline once over all clients'
 * events together: the report's `global` view (the caller decides where it
 * goes).
 *
 * Batch runs use the pipeline's own event time and hold its watermarks
 * until the input ends (`RunOptions.mode: 'batch'`, as Flink's batch
 * execution mode): no event is late in a batch run, whatever the order of
 * the log or the wire's `ts`, and every window fires once, complete.
 *
 * Memory: at most `maxEventsInMemory` events are held (one client's always
 * are, however many); each client is run as soon as its events are read, so
 * a log whose clients interleave beyond that bound takes several passes.
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
 * // The client counted 1 (the event at 500 came too late for it), and its watermark passed the window.
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 1, pane: 0 }], Date.now(), 90_000);
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
  const { results, corrections } = options;
  const only = options.clientId;
  const log = only === undefined ? options.log : oneClient(options.log, only);
  const clientsOfResults = () => (only === undefined ? results.clients() : results.clients().filter((id) => id === only));
  const maxEvents = options.maxEventsInMemory ?? DEFAULT_MAX_EVENTS;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const pipeline = createPipeline(options.pipeline as BatchPipeline) as Pipeline<unknown, unknown>;

  // Corrections another process wrote (a tidemark reconcile beside the server): compared with below.
  await corrections.refresh?.(); // a store of your own may not have it
  // The clients' reports, read before the log: the server stores an upload's watermark after
  // its events, so a watermark read now never makes final a window whose events this run misses.
  const reports = new Map(clientsOfResults().map((id) => [id, results.report(id)] as const));
  const progress = log.clients();
  const stats: ReadStats = { passes: 0, events: 0 };
  const global = new BatchRun(pipeline);
  const failures: ReconcileFailure[] = [];
  const counts = { windows: 0, uploaded: 0, written: 0, skipped: 0, pending: 0, frozen: 0 };
  const frozenThrough = options.frozenThrough ?? Number.NEGATIVE_INFINITY;
  const frozen = (w: WindowRef) => w.start <= frozenThrough;
  let frontier = Number.POSITIVE_INFINITY;
  const fail = (clientId: string | undefined, error: unknown) => failures.push({ clientId, ...errorParts(error) });
  const horizon = options.silenceHorizonMs ?? DEFAULT_SILENCE_HORIZON_MS;

  // Written in chunks as they accumulate: clients come one at a time.
  let pending: CorrectionEntry[] = [];
  for await (const group of clientGroups(log, progress, maxEvents, stats)) {
    for (const c of group) {
      // Batch runs hold their watermarks: the log's order is as good as any.
      await global.push(c.data);
      const run = new BatchRun(pipeline);
      await run.push(c.data);
      // Release the client's events before the next one is run.
      c.release();
      const outcome = await run.end();
      if (!outcome.ok) {
        fail(c.clientId, outcome.error);
        frontier = Number.NEGATIVE_INFINITY;
        continue;
      }
      counts.windows += outcome.windows.size;
      const final = finality(reports.get(c.clientId), outcome.allowedLateness, startedAt, horizon);
      frontier = Math.min(frontier, finalThrough(outcome.windows.values(), final));
      if (options.onWindows) options.onWindows(c.clientId, live(outcome.windows.values(), frozen));
      for (const e of clientCorrections(c.clientId, outcome.windows, results, corrections, startedAt, counts, final, frozen)) pending.push(e);
      outcome.windows.release();
    }
    if (pending.length >= WRITE_CHUNK) {
      counts.written += await writeCorrections(corrections, pending);
      pending = [];
    }
  }

  // Clients that uploaded results but have no events in the log: every final window is wrong.
  const logged = new Set(progress.map((c) => c.clientId));
  const orphans = clientsOfResults().filter((id) => !logged.has(id));
  for (const clientId of orphans) {
    const final = finality(reports.get(clientId), 0, startedAt, horizon);
    for (const e of clientCorrections(clientId, new WindowIndex(), results, corrections, startedAt, counts, final, frozen)) pending.push(e);
  }
  counts.written += await writeCorrections(corrections, pending);

  const outcome = await global.end();
  if (!outcome.ok) {
    fail(undefined, outcome.error);
    frontier = Number.NEGATIVE_INFINITY;
  } else if (options.onWindows) options.onWindows(undefined, live(outcome.windows.values(), frozen));

  const durationMs = now() - startedAt;
  return {
    startedAt,
    clients: progress.length + orphans.length,
    events: stats.events,
    ...counts,
    global: outcome.ok ? sortedWindows(outcome.windows).filter((w) => !frozen(w)) : [],
    frontier: Number.isFinite(frontier) ? Math.max(frozenThrough, frontier) : frozenThrough,
    failures,
    passes: stats.passes,
    durationMs,
    eventsPerSecond: durationMs > 0 ? stats.events / (durationMs / 1_000) : 0,
  };
}

/** The part of `log` that is one client's: what it reads and lists. */
function oneClient(log: EventLog, clientId: string): EventLog {
  return {
    append: (...args) => log.append(...args),
    read: () => log.read({ clientId }),
    clients: () => log.clients().filter((c) => c.clientId === clientId),
    stats: () => log.stats(),
    close: async () => {},
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

/**
 * Whether a window of a client is final for it: the client's uploaded
 * watermark has reached `end + allowedLateness` (it will never fire that
 * window again), or the client has been silent for `horizon` ms. A client
 * that never uploaded (no Tidemark runtime reports for it: a custom client,
 * or events forwarded by an edge worker) has nothing that could still fire:
 * every window of it is final.
 */
function finality(report: ClientReport | undefined, allowedLateness: number, now: number, horizon: number): (w: WindowRef) => boolean {
  if (!report || now - report.lastSeen >= horizon) return () => true;
  const { watermark } = report;
  return (w) => watermark >= w.end + allowedLateness;
}

/**
 * How far one client's batch windows are final: the earliest start of a
 * window not final, else the end of the last window (`+Infinity`: none).
 */
function finalThrough(windows: Iterable<WindowRef>, final: (w: WindowRef) => boolean): number {
  let open = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const w of windows) {
    if (!final(w)) open = Math.min(open, w.start);
    end = Math.max(end, w.end);
  }
  return open < Number.POSITIVE_INFINITY ? open : end === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY : end;
}

/** The windows not frozen. */
function* live<W extends WindowRef>(windows: Iterable<W>, frozen: (w: WindowRef) => boolean): Iterable<W> {
  for (const w of windows) if (!frozen(w)) yield w;
}

/** The corrections one client needs, less those its latest stored ones already say. */
function clientCorrections(
  clientId: string,
  batch: WindowIndex<Pane>,
  results: ResultStore,
  store: CorrectionStore,
  at: number,
  counts: { uploaded: number; skipped: number; pending: number; frozen: number },
  final: (w: WindowRef) => boolean,
  frozen: (w: WindowRef) => boolean,
): CorrectionEntry[] {
  const speed = results.get(clientId);
  counts.uploaded += speed.length;
  const differences: CorrectionEntry[] = [];
  pairWindows(speed, batch, (s, b) => {
    const w = (s ?? b)!;
    if (frozen(w)) {
      counts.frozen++;
      return;
    }
    if (sameJson(b ? b.value : null, s ? s.value : null)) return;
    // Not final for the client yet: it may still fire it; a later run decides.
    if (!final(w)) counts.pending++;
    else
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
  if (o.clientId !== undefined && !isClientId(o.clientId))
    throw new InvalidOptionError('reconcile.clientId', `expected a client id (1-128 characters of A-Z a-z 0-9 _ -), got ${describe(o.clientId)}; omit it for every client`);
  requireMaxEvents('reconcile.maxEventsInMemory', o.maxEventsInMemory);
  if (o.frozenThrough !== undefined && (typeof o.frozenThrough !== 'number' || Number.isNaN(o.frozenThrough)))
    throw new InvalidOptionError('reconcile.frozenThrough', `must be a time (ms), got ${describe(o.frozenThrough)}`);
  if (o.onWindows !== undefined) requireFunction('reconcile.onWindows', o.onWindows, 'omit it or pass (clientId, windows) => …');
  if (o.silenceHorizonMs !== undefined && (typeof o.silenceHorizonMs !== 'number' || !(o.silenceHorizonMs > 0)))
    throw new InvalidOptionError('reconcile.silenceHorizonMs', `must be a number of ms > 0 (or Infinity: only watermarks make windows final), got ${describe(o.silenceHorizonMs)}`);
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
