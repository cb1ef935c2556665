/**
 * `topN`: the best results of each window (a window Top-N).
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { registerState } from '../checkpoint/scope.js';
import { check, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import { optionalFunction, optionalId, rejectUnknown, requireFunction, requireObject, requirePositiveInteger } from '../options.js';
import type { Timed } from '../time/timed.js';
import { type Timer, TimerHeap } from '../windows/timer-heap.js';
import { isKey, type WindowKey, type WindowResult } from '../windows/window-result.js';
import { completeSink, connectTimed, isChangelogStream, TimedObservable } from './timed-observable.js';

/** Options of {@link topN}. */
export interface TopNOptions<K extends WindowKey, R> {
  /** How many results to keep per window (a whole number ≥ 1). */
  readonly n: number;
  /** The score to rank by, highest first; results scoring `NaN` are dropped. */
  readonly by: (result: WindowResult<K, R>) => number;
  /**
   * Also keep every result that ties with the `n`-th best (SQL `RANK() <= n`
   * rather than `ROW_NUMBER() <= n`). With `n: 1`, every result equal to the
   * window's maximum. Default `false`.
   */
  readonly ties?: boolean;
  /** Receives each result that arrived after its window was ranked; it changes nothing. */
  readonly late?: (result: WindowResult<K, R>, timestamp: number) => void;
  /** Names this operator's state in pipeline snapshots; default `topN#n`. */
  readonly id?: string;
}

const KNOWN = ['n', 'by', 'ties', 'late', 'id'] as const;

/** Keys rank after scores: numbers before strings, then ascending, so ties always break the same way. */
function keyBefore(a: WindowKey, b: WindowKey): boolean {
  if (typeof a === typeof b) return a < b;
  return typeof a === 'number';
}

/** The current best results of one window, best first, with their scores. */
class Ranking<K extends WindowKey, R> implements Timer {
  readonly items: WindowResult<K, R>[] = [];
  readonly scores: number[] = [];
  constructor(
    readonly start: number,
    readonly end: number,
    /** The results' timestamp (that of the window's first one): the ranking is complete once the watermark reaches it. */
    readonly time: number,
    readonly seq: number,
  ) {}
}

/** Snapshot of one window's ranking. @internal */
interface RankingState {
  start: number;
  end: number;
  time: number;
  seq: number;
  items: unknown[];
  scores: number[];
}

/** Snapshot of one topN. @internal */
interface TopNState {
  watermark: unknown;
  seq: number;
  lateRecords: number;
  windows: RankingState[];
}

/**
 * Ranks the results of each window and keeps the `n` best: the "window
 * Top-N" of Flink SQL (`ROW_NUMBER() OVER (PARTITION BY window_start,
 * window_end ORDER BY score DESC) <= n`), and with `ties: true` the join of a
 * window's results with their maximum ("the auctions with the most bids in
 * each window", Nexmark q5). Put it after a {@link windowBy}: it groups the
 * results by window (`start`, `end`), and when the watermark passes their
 * timestamp (every result of a window carries the same one), emits the
 * window's best results, best first, with that timestamp, then the
 * watermark, so its output can be windowed again. Equal scores rank by key
 * (numbers before strings, then ascending), so the output does not depend on
 * the order results arrive in. Only the best results are held, never a whole
 * window.
 *
 * Over plain results, feed it on-time panes only (no `early` firings, no
 * `allowedLateness` upstream): each result is ranked as a row of its own.
 * Over a changelog (`windowBy({ changelog: true })` upstream) early panes
 * are fine: it keeps every live row of a window (one per key), an
 * `insert`/`update-after` replaces its key's row, an `update-before`/`delete`
 * removes it, and the ranking emitted is that of the rows left; its output
 * is plain results (no `kind`), one ranking per window. A result that
 * arrives once its window was ranked goes to `late` (or is dropped and
 * counted in `stats().lateRecords`).
 *
 * @param options - see {@link TopNOptions}
 * @throws {@link InvalidOptionError} at call time for invalid options
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, windowBy, tumbling, count, topN, records } from 'tidemark';
 * const bids = [{ auction: 7, ts: 1 }, { auction: 8, ts: 2 }, { auction: 7, ts: 3 }, { auction: 9, ts: 12 }];
 * from(bids)
 *   .pipe(eventTime({ timestamp: (b) => b.ts, maxOutOfOrderness: 0 }),
 *         windowBy({ key: (b) => b.auction, window: tumbling(10), aggregate: count() }),
 *         topN({ n: 1, by: (r) => r.value, ties: true }), records())
 *   .subscribe((r) => console.log(r.start, r.key, r.value)); // 0 7 2, then 10 9 1
 * ```
 * @see {@link windowBy}, {@link maxBy} for the records with a window's maximum
 */
export function topN<K extends WindowKey, R>(
  options: TopNOptions<K, R>,
): OperatorFunction<Timed<WindowResult<K, R>>, Timed<WindowResult<K, R>>> {
  requireObject('topN', options);
  rejectUnknown('topN', options, KNOWN);
  requirePositiveInteger('topN.n', options.n);
  requireFunction('topN.by', options.by, 'pass e.g. (result) => result.value');
  if (options.ties !== undefined && typeof options.ties !== 'boolean')
    throw new InvalidOptionError('topN.ties', `expected true or false, got ${describe(options.ties)}`);
  optionalFunction('topN.late', options.late);
  optionalId('topN.id', options.id);
  const { n, by, late, id } = options;
  const ties = options.ties ?? false;

  return (source) => {
    // Over a changelog a window keeps all its live rows: a retracted best must leave the next best in place.
    const changelog = isChangelogStream(source);
    return new TimedObservable<WindowResult<K, R>>((sink, subscriber) => {
      const open = new Map<number, Map<number, Ranking<K, R>>>(); // by start, then end
      const timers = new TimerHeap<Ranking<K, R>>();
      let last: Ranking<K, R> | undefined; // a window's results arrive together: check it first
      let wm = Number.NEGATIVE_INFINITY;
      let seq = 0;
      let lateRecords = 0;

      const ranking = (start: number, end: number, timestamp: number): Ranking<K, R> => {
        if (last !== undefined && last.start === start && last.end === end) return last;
        let byEnd = open.get(start);
        if (byEnd === undefined) open.set(start, (byEnd = new Map()));
        let r = byEnd.get(end);
        if (r === undefined) {
          r = new Ranking<K, R>(start, end, timestamp, seq++);
          byEnd.set(end, r);
          timers.push(r);
        }
        return (last = r);
      };

      const remove = (r: Ranking<K, R>, key: K) => {
        const i = r.items.findIndex((item) => item.key === key);
        if (i < 0) return;
        r.items.splice(i, 1);
        r.scores.splice(i, 1);
      };

      const insert = (r: Ranking<K, R>, result: WindowResult<K, R>, score: number) => {
        const { items, scores } = r;
        if (changelog) remove(r, result.key); // one row per key: a new one replaces it
        // Position after every result that ranks at or before this one.
        let i = items.length;
        while (i > 0) {
          const s = scores[i - 1] as number;
          if (s > score || (s === score && !keyBefore(result.key, (items[i - 1] as WindowResult<K, R>).key))) break;
          i--;
        }
        if (!changelog && i >= n && !(ties && scores[n - 1] === score)) return; // not among the best
        items.splice(i, 0, result);
        scores.splice(i, 0, score);
        if (changelog) return;
        // Drop what fell out: beyond n, unless tied with the n-th.
        let keep = items.length;
        if (keep > n) {
          keep = n;
          if (ties) while (keep < scores.length && scores[keep] === scores[n - 1]) keep++;
          items.length = keep;
          scores.length = keep;
        }
      };

      const advance = (next: number) => {
        if (!(next > wm)) return;
        wm = next;
        while (timers.size > 0 && timers.peekTime() <= next) {
          const r = timers.pop() as Ranking<K, R>;
          const byEnd = open.get(r.start) as Map<number, Ranking<K, R>>;
          byEnd.delete(r.end);
          if (byEnd.size === 0) open.delete(r.start);
          if (last === r) last = undefined;
          if (!changelog) {
            for (const item of r.items) sink.record(item, r.time);
            continue;
          }
          // The best n of every live row (with ties), as plain results.
          let keep = Math.min(n, r.items.length);
          if (ties) while (keep < r.scores.length && r.scores[keep] === r.scores[n - 1]) keep++;
          for (let i = 0; i < keep; i++) {
            const { key, start, end, value, timing, pane } = r.items[i] as WindowResult<K, R>;
            sink.record({ key, start, end, value, timing, pane }, r.time);
          }
        }
        sink.watermark(next);
      };

      registerState('topN', id, {
        snapshot: (): TopNState => ({
          watermark: encodeTime(wm),
          seq,
          lateRecords,
          windows: [...open.values()].flatMap((byEnd) =>
            [...byEnd.values()].map((r) => ({
              start: r.start,
              end: r.end,
              time: r.time,
              seq: r.seq,
              items: structuredClone(r.items),
              scores: r.scores.slice(),
            })),
          ),
        }),
        restore(state) {
          const s = state as Partial<TopNState> | null;
          check(typeof s === 'object' && s !== null && Array.isArray(s.windows), 'topN', 'state is not a topN state');
          wm = decodeTime(s.watermark, 'topN.watermark');
          open.clear();
          timers.clear();
          last = undefined;
          seq = typeof s.seq === 'number' ? s.seq : 0;
          lateRecords = typeof s.lateRecords === 'number' ? s.lateRecords : 0;
          for (const w of s.windows) {
            const ok =
              typeof w === 'object' &&
              w !== null &&
              Number.isFinite(w.start) &&
              Number.isFinite(w.end) &&
              Number.isFinite(w.time) &&
              Number.isFinite(w.seq) &&
              Array.isArray(w.items) &&
              Array.isArray(w.scores) &&
              w.items.length === w.scores.length;
            check(ok, 'topN.windows', `window ${JSON.stringify(w?.start)} is malformed`);
            let byEnd = open.get(w.start);
            if (byEnd === undefined) open.set(w.start, (byEnd = new Map()));
            check(!byEnd.has(w.end), 'topN.windows', `window ${w.start} appears twice`);
            const r = new Ranking<K, R>(w.start, w.end, w.time, w.seq);
            r.items.push(...(structuredClone(w.items) as WindowResult<K, R>[]));
            r.scores.push(...w.scores);
            byEnd.set(w.end, r);
            timers.push(r);
          }
        },
        stats: () => {
          let windows = 0;
          for (const byEnd of open.values()) windows += byEnd.size;
          return { watermark: wm, openWindows: windows, lateRecords };
        },
      });

      return connectTimed(
        source,
        {
          record(result, timestamp) {
            if (typeof result !== 'object' || result === null || !Number.isFinite(result.start) || !isKey(result.key)) {
              sink.error(
                new InvalidRecordError(`topN expects window results ({ key, start, end, value, … }) but received ${describe(result)}; put it after windowBy(…)`, result),
              );
              return;
            }
            if (timestamp <= wm) {
              lateRecords++;
              late?.(result, timestamp);
              return;
            }
            if (changelog) {
              const kind = (result as { kind?: unknown }).kind;
              if (kind === 'update-before' || kind === 'delete') {
                remove(ranking(result.start, result.end, timestamp), result.key);
                return;
              }
              if (kind !== 'insert' && kind !== 'update-after') {
                sink.error(
                  new InvalidRecordError(
                    `topN: this input is a changelog (from windowBy({ changelog: true })) but a record has kind ${describe(kind)}; ` +
                      "expected 'insert', 'update-before', 'update-after' or 'delete' (a mapRecords in between must keep `kind`)",
                    result,
                  ),
                );
                return;
              }
            }
            const score = by(result);
            if (Number.isNaN(score)) {
              if (changelog) remove(ranking(result.start, result.end, timestamp), result.key);
              return;
            }
            const r = ranking(result.start, result.end, timestamp);
            insert(r, result, score);
          },
          watermark: advance,
          error: (err) => sink.error(err),
          complete() {
            advance(Number.POSITIVE_INFINITY);
            completeSink(sink);
          },
        },
        subscriber,
        'topN',
      );
    });
  };
}
