/**
 * `replay`: what a new version of the pipeline would change, window by
 * window, over the events already logged.
 *
 * @module
 */
import { createPipeline, type Pipeline } from '../checkpoint/pipeline.js';
import { describe, errorParts, InvalidOptionError } from '../errors.js';
import { requireFunction, requireObject } from '../options.js';
import { BatchRun, pairWindows } from './batch-run.js';
import { clientGroups, DEFAULT_MAX_EVENTS, type ReadStats } from './log-passes.js';
import { sameJson } from '../protocol/json.js';
import type { EventLog } from '../host/ingest/log.js';
import { type BatchPipeline, requireLog, requireMaxEvents } from './reconcile.js';
import { compareWindows, type WindowValue } from '../windows/identity.js';

/** Options of {@link replay}. */
export interface ReplayOptions<E = any> {
  /** The log of every client's events. */
  readonly log: EventLog;
  /** The candidate: the new version of the pipeline. */
  readonly pipeline: BatchPipeline<E>;
  /** The version it is compared with, usually the one the clients run now. */
  readonly baseline: BatchPipeline<E>;
  /** Most differences listed in the report (default 10 000); the counts are always complete. */
  readonly maxDifferences?: number;
  /** Most events held in memory at once (default 2 000 000); as for {@link reconcile}. */
  readonly maxEventsInMemory?: number;
  /** Clock for the report's `durationMs` (default `Date.now`). */
  readonly now?: () => number;
}

/** One window whose result differs between the two pipelines (`null` where one has no such window). */
export interface WindowDifference {
  readonly clientId: string;
  readonly key: WindowValue['key'];
  readonly start: number;
  readonly end: number;
  readonly baseline: unknown;
  readonly candidate: unknown;
}

/** A client whose run of one of the pipelines failed; its windows are not compared. */
export interface ReplayFailure {
  readonly clientId: string;
  readonly pipeline: 'baseline' | 'candidate';
  readonly name: string;
  readonly message: string;
}

/** What {@link replay} found. */
export interface ReplayReport {
  readonly clients: number;
  readonly events: number;
  /** Windows with equal values (as JSON) in both. */
  readonly same: number;
  /** Windows in both, with different values. */
  readonly changed: number;
  /** Windows only the baseline has. */
  readonly onlyInBaseline: number;
  /** Windows only the candidate has. */
  readonly onlyInCandidate: number;
  /** The differing windows, by client (log order), then key, then start; at most `maxDifferences`. */
  readonly differences: readonly WindowDifference[];
  /** `true` when more windows differ than `differences` lists. */
  readonly truncated: boolean;
  readonly failures: readonly ReplayFailure[];
  /** Passes over the log. */
  readonly passes: number;
  readonly durationMs: number;
}

/**
 * Runs two versions of a pipeline over the same logged events, per client
 * (sorted by event time, as {@link reconcile} does), and reports the
 * windows whose results differ: changed values, and windows only one of
 * them has. Writes nothing.
 *
 * @param options - see {@link ReplayOptions}
 * @throws {@link InvalidOptionError} for invalid options
 * @example
 * ```ts
 * import { eventTime, windowBy, tumbling, count, filterRecords } from 'tidemark';
 * import { memoryLog, replay } from 'tidemark/server';
 * type Click = { page: string; bot: boolean; ts: number };
 * const log = memoryLog();
 * await log.append('c1', [{ seq: 1, ts: 1_000, data: { page: '/', bot: false, ts: 1_000 } },
 *                         { seq: 2, ts: 2_000, data: { page: '/', bot: true, ts: 2_000 } }], Date.now());
 * const counts = (humansOnly: boolean) => (events$: import('rxjs').Observable<Click>) => events$.pipe(
 *   eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 1_000 }),
 *   filterRecords((e: Click) => !humansOnly || !e.bot),
 *   windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }));
 * const report = await replay({ log, baseline: counts(false), pipeline: counts(true) });
 * console.log(report.changed, report.differences[0]); // 1 { clientId: 'c1', key: '/', …, baseline: 2, candidate: 1 }
 * ```
 * @see {@link reconcile}
 */
export async function replay<E = any>(options: ReplayOptions<E>): Promise<ReplayReport> {
  validate(options);
  const now = options.now ?? Date.now;
  const started = now();
  const maxDifferences = options.maxDifferences ?? 10_000;
  const candidate = createPipeline(options.pipeline as BatchPipeline) as Pipeline<unknown, unknown>;
  const baseline = createPipeline(options.baseline as BatchPipeline) as Pipeline<unknown, unknown>;
  const clients = options.log.clients();
  const stats: ReadStats = { passes: 0, events: 0 };
  const counts = { same: 0, changed: 0, onlyInBaseline: 0, onlyInCandidate: 0 };
  const differences: WindowDifference[] = [];
  const failures: ReplayFailure[] = [];
  let differing = 0;

  for await (const group of clientGroups(options.log, clients, options.maxEventsInMemory ?? DEFAULT_MAX_EVENTS, stats)) {
    for (const c of group) {
      const views = { baseline: new BatchRun(baseline), candidate: new BatchRun(candidate) };
      await views.baseline.push(c.data);
      await views.candidate.push(c.data);
      c.release();
      const b = await views.baseline.end();
      const k = await views.candidate.end();
      if (!b.ok || !k.ok) {
        if (!b.ok) failures.push({ clientId: c.clientId, pipeline: 'baseline', ...errorParts(b.error) });
        if (!k.ok) failures.push({ clientId: c.clientId, pipeline: 'candidate', ...errorParts(k.error) });
        continue;
      }
      const found: WindowDifference[] = [];
      const diff = (w: WindowValue, baseline: unknown, candidate: unknown) =>
        found.push({ clientId: c.clientId, key: w.key, start: w.start, end: w.end, baseline, candidate });
      pairWindows(b.windows.values(), k.windows, (bw, kw) => {
        if (kw === undefined) {
          counts.onlyInBaseline++;
          diff(bw!, bw!.value, null);
        } else if (bw === undefined) {
          counts.onlyInCandidate++;
          diff(kw, null, kw.value);
        } else if (sameJson(bw.value, kw.value)) counts.same++;
        else {
          counts.changed++;
          diff(bw, bw.value, kw.value);
        }
      });
      b.windows.release();
      k.windows.release();
      differing += found.length;
      if (differences.length < maxDifferences)
        for (const d of found.sort(compareWindows).slice(0, maxDifferences - differences.length)) differences.push(d);
    }
  }
  return {
    clients: clients.length,
    events: stats.events,
    ...counts,
    differences,
    truncated: differing > differences.length,
    failures,
    passes: stats.passes,
    durationMs: now() - started,
  };
}

function validate(o: ReplayOptions): void {
  requireObject('replay', o);
  requireLog('replay.log', o.log);
  const hint = 'pass a pipeline function: (events$) => events$.pipe(...)';
  requireFunction('replay.pipeline', o.pipeline, hint);
  requireFunction('replay.baseline', o.baseline, hint);
  if (o.maxDifferences !== undefined && (!Number.isSafeInteger(o.maxDifferences) || o.maxDifferences < 0))
    throw new InvalidOptionError('replay.maxDifferences', `must be a whole number >= 0, got ${describe(o.maxDifferences)}`);
  requireMaxEvents('replay.maxEventsInMemory', o.maxEventsInMemory);
  if (o.now !== undefined) requireFunction('replay.now', o.now, 'omit it or pass () => Date.now()');
}
