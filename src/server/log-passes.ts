/**
 * Reading the log for the batch layer (reconcile and replay) in passes that
 * hold a bounded number of events: per group of clients, or per range of
 * event times in time order.
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
import type { BatchRun } from './batch-run.js';
import type { ClientProgress, EventLog } from '../host/ingest/log.js';
import { timeOrder } from './time-order.js';

/** The default `maxEventsInMemory` of reconcile and replay. */
export const DEFAULT_MAX_EVENTS = 2_000_000;

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
        // An event without a readable time sorts first (its pipeline will say why it cannot time it).
        const ts = e.ts ?? Number.NEGATIVE_INFINITY;
        target.add(e.data, ts, e.seq);
        seen?.(ts);
      }
    }
    const out = [...loaded.values()];
    for (const c of out) stats.events += c.length;
    yield out;
  }
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
        const t = e.ts ?? Number.NEGATIVE_INFINITY;
        if (t >= lo && t < hi && clients.has(e.clientId)) {
          data.push(e.data);
          ts.push(t);
        }
      }
    }
    if (!(await run.push(data, timeOrder(ts)))) return;
  }
}
