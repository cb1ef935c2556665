/**
 * The batch layer's machinery, shared by reconcile and replay: reading the
 * log in passes that hold a bounded number of events, putting events in an
 * order in which none is late, and running a pipeline to completion to get
 * the latest pane of every window.
 *
 * Memory bound: a pass holds at most `maxEvents` events (a reference to the
 * event's data, its time and sequence number), except that one client's
 * events are always held together, however many. When the whole log fits,
 * one pass does everything; otherwise the per-client views take one pass
 * per group of clients, and the global view one pass per range of event
 * times, each range chosen (from a sample of times) to hold about
 * `maxEvents` events.
 *
 * @internal
 * @module
 */
import type { Observer } from 'rxjs';
import type { Pipeline, PipelineInput } from '../checkpoint/pipeline.js';
import { describe, TidemarkError } from '../errors.js';
import type { WindowKey } from '../windows/window-result.js';
import type { ClientProgress, EventLog } from './log.js';
import { compareWindows, WindowMap, type WindowValue } from './windows.js';

/**
 * One client's events as read from the log, in read order: parallel arrays
 * sized from the log's count up front (growing if more arrive), times and
 * sequence numbers unboxed, so that holding millions of them adds little
 * for the garbage collector to trace.
 */
export class ClientEvents {
  length = 0;
  data: unknown[];
  private ts: Float64Array;
  private seq: Float64Array;

  constructor(
    readonly clientId: string,
    capacity: number,
  ) {
    this.data = new Array<unknown>(capacity);
    this.ts = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
  }

  add(data: unknown, ts: number, seq: number): void {
    const i = this.length++;
    if (i === this.ts.length) {
      const grown = Math.max(16, i * 2);
      const t = new Float64Array(grown);
      t.set(this.ts);
      this.ts = t;
      const q = new Float64Array(grown);
      q.set(this.seq);
      this.seq = q;
    }
    this.data[i] = data;
    this.ts[i] = ts;
    this.seq[i] = seq;
  }

  times(): Float64Array {
    return this.ts.subarray(0, this.length);
  }

  seqs(): Float64Array {
    return this.seq.subarray(0, this.length);
  }

  /** The order in which a batch run must see these events (see {@link timeOrder}). */
  order(): Uint32Array {
    return timeOrder(this.times(), this.seqs());
  }

  /** Drops the events (once they have been run). */
  release(): void {
    this.data = [];
    this.ts = this.seq = new Float64Array(0);
    this.length = 0;
  }
}

/** Counters of the reads, for reports. */
export interface ReadStats {
  /** Passes over the log (or one client's part of it). */
  passes: number;
  /** Events read by the per-client passes. */
  events: number;
}

/**
 * Reads the listed clients' events in groups of at most `maxEvents` events
 * (a client with more makes a group alone), one pass per group, and yields
 * each group, its clients in the listed order. A client alone in its group
 * is read with `read({ clientId })`, which an indexed log answers without a
 * full scan. Events of clients not listed (they appeared after the list
 * was taken) are skipped. `seen` receives every event time read.
 */
export async function* clientGroups(
  log: EventLog,
  clients: readonly ClientProgress[],
  maxEvents: number,
  stats: ReadStats,
  seen?: (ts: number) => void,
): AsyncGenerator<ClientEvents[]> {
  const groups: ClientProgress[][] = [];
  let size = Infinity;
  for (const c of clients) {
    if (size + c.events > maxEvents || groups.length === 0) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1]!.push(c);
    size += c.events;
  }
  for (const group of groups) {
    const loaded = new Map<string, ClientEvents>(group.map((c) => [c.clientId, new ClientEvents(c.clientId, c.events)]));
    stats.passes++;
    const source = group.length === 1 ? log.read({ clientId: group[0]!.clientId }) : log.read();
    let lastId: string | undefined;
    let target: ClientEvents | undefined;
    for await (const chunk of source) {
      for (const e of chunk) {
        // Logs hand out runs of one client: look the client up once per run.
        if (e.clientId !== lastId) {
          lastId = e.clientId;
          target = loaded.get(lastId);
        }
        if (!target) continue;
        target.add(e.data, e.ts, e.seq);
        seen?.(e.ts);
      }
    }
    const out = [...loaded.values()];
    for (const c of out) stats.events += c.length;
    yield out;
  }
}

/**
 * The order in which a batch run must see events so that none is late: by
 * time, ties by `tie` (sequence numbers) or else by position. Returns the
 * positions in that order.
 */
export function timeOrder(ts: ArrayLike<number>, tie?: ArrayLike<number>): Uint32Array {
  const n = ts.length;
  const order = new Uint32Array(n);
  let sorted = true;
  let tieSorted = true;
  let integers = true;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    const t = ts[i]!;
    if (t < min) min = t;
    if (t > max) max = t;
    if (!Number.isInteger(t)) integers = false;
    if (i > 0) {
      const prev = ts[i - 1]!;
      if (tie && tie[i]! < tie[i - 1]!) tieSorted = false;
      if (t < prev || (t === prev && tie && tie[i]! < tie[i - 1]!)) sorted = false;
    }
  }
  if (sorted || n < 2) return order;
  // Fast paths for integer times, with the position as the tie-breaker (so
  // the ties must already be in position order): a stable radix sort of the
  // offsets from the earliest time when they fit 32 bits (49 days), else
  // time and position packed into one exact double and sorted natively.
  // A comparator sort is ~10× slower than either.
  if (integers && tieSorted && max - min < 2 ** 32) return radixOrder(ts, min, max - min);
  if (integers && tieSorted && (max - min + 1) * n <= Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = (ts[i]! - min) * n + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i]! % n;
    return order;
  }
  return order.sort(tie ? (a, b) => ts[a]! - ts[b]! || tie[a]! - tie[b]! : (a, b) => ts[a]! - ts[b]! || a - b);
}

const DIGIT_BITS = 11;
const BUCKETS = 1 << DIGIT_BITS;

/** Positions sorted by `ts[i] - min` (< 2^32), stable: an LSD radix sort of 11-bit digits. */
function radixOrder(ts: ArrayLike<number>, min: number, span: number): Uint32Array {
  const n = ts.length;
  let keys = new Uint32Array(n);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = ts[i]! - min;
    order[i] = i;
  }
  let keysOut = new Uint32Array(n);
  let orderOut = new Uint32Array(n);
  const counts = new Uint32Array(BUCKETS);
  for (let shift = 0; shift < 32 && span >>> shift > 0; shift += DIGIT_BITS) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & (BUCKETS - 1)]!++;
    let sum = 0;
    for (let d = 0; d < BUCKETS; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const at = counts[(k >>> shift) & (BUCKETS - 1)]!++;
      keysOut[at] = k;
      orderOut[at] = order[i]!;
    }
    [keys, keysOut] = [keysOut, keys];
    [order, orderOut] = [orderOut, order];
  }
  return order;
}

/** A systematic sample of event times (every k-th), to cut the global pass into time ranges. */
export class TimeSample {
  readonly values: number[] = [];
  private readonly every: number;
  private countdown = 0;

  constructor(total: number, size = 65_536) {
    this.every = Math.max(1, Math.floor(total / size));
  }

  add(ts: number): void {
    if (this.countdown-- > 0) return;
    this.countdown = this.every - 1;
    this.values.push(ts);
  }

  /**
   * Boundaries `b1 < b2 < …` cutting time into ranges `(-∞, b1)`, `[b1, b2)`,
   * … `[bk, ∞)` of about `maxEvents` events each (with a margin for the
   * sample's error).
   */
  boundaries(total: number, maxEvents: number): number[] {
    const ranges = Math.ceil((total * 1.25) / maxEvents);
    if (ranges <= 1 || this.values.length === 0) return [];
    const sorted = Float64Array.from(this.values).sort();
    const out: number[] = [];
    for (let i = 1; i < ranges; i++) {
      const b = sorted[Math.floor((i * sorted.length) / ranges)]!;
      if (out.length === 0 || b > out[out.length - 1]!) out.push(b);
    }
    return out;
  }
}

/**
 * Feeds every event of `clients` into `run` in time order, one pass over
 * the log per time range cut by `boundaries` (see {@link TimeSample}).
 * Ties within a range keep the log's read order.
 */
export async function feedInTimeOrder(
  log: EventLog,
  clients: ReadonlySet<string>,
  boundaries: readonly number[],
  run: BatchRun,
  stats: ReadStats,
): Promise<void> {
  for (let r = 0; r <= boundaries.length; r++) {
    const lo = r === 0 ? -Infinity : boundaries[r - 1]!;
    const hi = r === boundaries.length ? Infinity : boundaries[r]!;
    const data: unknown[] = [];
    const ts: number[] = [];
    stats.passes++;
    for await (const chunk of log.read()) {
      for (const e of chunk) {
        if (e.ts >= lo && e.ts < hi && clients.has(e.clientId)) {
          data.push(e.data);
          ts.push(e.ts);
        }
      }
    }
    if (!run.push(data, timeOrder(ts))) return;
  }
}

/** A window's latest pane as a batch run keeps it. */
export interface Pane extends WindowValue {
  readonly pane: number | undefined;
  /** Free for the caller: reconcile marks the windows it matched with an upload. */
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
    if (pane !== undefined) {
      const seen = this.windows.get(r.key, r.start, r.end);
      if (seen && seen.pane !== undefined && pane < seen.pane) return;
    }
    this.windows.set({ key: r.key, start: r.start, end: r.end, value: r.value, pane, matched: false });
  }
}

function isKey(k: unknown): k is WindowKey {
  return typeof k === 'string' || typeof k === 'number';
}

/** The windows of a view as a sorted list of plain values. */
export function sortedWindows(windows: WindowMap<WindowValue>): WindowValue[] {
  return [...windows.values()].map(({ key, start, end, value }) => ({ key, start, end, value })).sort(compareWindows);
}
