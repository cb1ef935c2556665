/**
 * What the benchmarks compare Tidemark against: hand-written loops with the
 * same event-time semantics (the ceiling a library can hope to approach),
 * and a naive RxJS pipeline (what a user would write without Tidemark).
 *
 * The loops follow `windowBy`'s contract exactly, so that their results can
 * be checked against Tidemark's: a record is added under the watermark as it
 * stood before it, then the watermark becomes
 * `max(wm, maxTimestamp - bound - 1)` and every window whose last timestamp
 * it reached fires, in end order; at the end everything fires.
 *
 * @module
 */
import { count as countAll, from, groupBy, map, mergeMap } from 'rxjs';

export interface BenchEvent {
  readonly key: number;
  readonly ts: number;
}

/** One firing, as a hand loop emits it (Tidemark's adds `timing` and `pane`). */
export interface HandResult {
  readonly key: number;
  readonly start: number;
  readonly end: number;
  readonly value: number;
}

/**
 * Consumes results and keeps enough of them to compare two runs: how many
 * fired, the total of their counts and of their lengths, and how many
 * records were late.
 */
export class Tally {
  results = 0;
  total = 0;
  spans = 0;
  late = 0;

  /** Takes a hand loop's {@link HandResult} or a Tidemark `WindowResult`. */
  add(r: { readonly key: unknown; readonly start: number; readonly end: number; readonly value: number }): void {
    this.results++;
    this.total += r.value;
    this.spans += r.end - r.start;
  }

  /** Same results, ignoring the order they fired in. */
  agrees(other: Tally): boolean {
    return (
      this.results === other.results &&
      this.total === other.total &&
      this.spans === other.spans &&
      this.late === other.late
    );
  }

  toString(): string {
    return `${this.results} results, ${this.total} counted, ${this.late} late`;
  }
}

/**
 * `timestamp - mod(timestamp, size)`, as `tumbling` aligns windows. A floor
 * division rather than `%`: on epoch milliseconds (beyond int32) `%` is a
 * slow fmod call that would cost the loop ~15%. The result is exact for
 * whole-ms timestamps and sizes, whose quotient is nowhere near a rounding.
 */
function windowStart(timestamp: number, size: number): number {
  return Math.floor(timestamp / size) * size;
}

type Windows = Map<number, Map<number, number>>;

/**
 * Fires (in end order) and drops every window whose last timestamp the
 * watermark has reached; returns the last timestamp of the earliest window
 * still open, so the caller only comes back when that one is due.
 */
function fireDue(windows: Windows, size: number, wm: number, out: Tally): number {
  const due: number[] = [];
  let next = Number.POSITIVE_INFINITY;
  for (const start of windows.keys()) {
    const last = start + size - 1;
    if (last <= wm) due.push(start);
    else if (last < next) next = last;
  }
  due.sort((a, b) => a - b);
  for (const start of due) {
    for (const [key, value] of windows.get(start) as Map<number, number>)
      out.add({ key, start, end: start + size, value });
    windows.delete(start);
  }
  return next;
}

/** Tumbling-window count, by hand. */
export function handTumbling(events: readonly BenchEvent[], size: number, bound: number, out: Tally): void {
  const windows: Windows = new Map();
  let wm = Number.NEGATIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  let nextDue = Number.POSITIVE_INFINITY;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as BenchEvent;
    const ts = e.ts;
    const start = windowStart(ts, size);
    if (start + size - 1 <= wm) out.late++;
    else {
      let w = windows.get(start);
      if (w === undefined) {
        windows.set(start, (w = new Map()));
        if (start + size - 1 < nextDue) nextDue = start + size - 1;
      }
      w.set(e.key, (w.get(e.key) ?? 0) + 1);
    }
    if (ts > maxTs) {
      maxTs = ts;
      if (ts - bound - 1 > wm) wm = ts - bound - 1;
    }
    if (nextDue <= wm) nextDue = fireDue(windows, size, wm, out);
  }
  fireDue(windows, size, Number.POSITIVE_INFINITY, out);
}

/**
 * Sliding-window count, by hand: each record goes to the `size / slide`
 * windows whose start is within `size` before it.
 */
export function handSliding(
  events: readonly BenchEvent[],
  size: number,
  slide: number,
  bound: number,
  out: Tally,
): void {
  const windows: Windows = new Map();
  let wm = Number.NEGATIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  let nextDue = Number.POSITIVE_INFINITY;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as BenchEvent;
    const ts = e.ts;
    let accepted = false;
    for (let start = windowStart(ts, slide); start > ts - size; start -= slide) {
      if (start + size - 1 <= wm) break; // earlier starts end earlier: late too
      let w = windows.get(start);
      if (w === undefined) {
        windows.set(start, (w = new Map()));
        if (start + size - 1 < nextDue) nextDue = start + size - 1;
      }
      w.set(e.key, (w.get(e.key) ?? 0) + 1);
      accepted = true;
    }
    if (!accepted) out.late++;
    if (ts > maxTs) {
      maxTs = ts;
      if (ts - bound - 1 > wm) wm = ts - bound - 1;
    }
    if (nextDue <= wm) nextDue = fireDue(windows, size, wm, out);
  }
  fireDue(windows, size, Number.POSITIVE_INFINITY, out);
}

interface HandSession {
  readonly key: number;
  start: number;
  end: number;
  count: number;
  /** The `end` it had when queued; a session that grew since is queued again when this comes up. */
  due: number;
  alive: boolean;
}

/** A binary min-heap of sessions by `due`: the least a session loop needs to fire in end order. */
class DueQueue {
  private readonly items: HandSession[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): HandSession | undefined {
    return this.items[0];
  }

  push(s: HandSession): void {
    const items = this.items;
    let i = items.push(s) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as HandSession;
      if (p.due <= s.due) break;
      items[i] = p;
      i = parent;
    }
    items[i] = s;
  }

  pop(): HandSession | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    const n = items.length;
    if (n === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (items[r] as HandSession).due < (items[l] as HandSession).due ? r : l;
      if ((items[c] as HandSession).due >= last.due) break;
      items[i] = items[c] as HandSession;
      i = c;
    }
    items[i] = last;
    return top;
  }
}

/**
 * Session-window count, by hand, with `windowBy`'s session semantics: a
 * record opens `[ts, ts + gap)`, which merges with every session of its key
 * that it overlaps or touches; a session fires once the watermark reaches
 * its `end`. Sessions grow in place (a stale queue entry is re-queued when
 * it comes up) rather than being replaced as Tidemark's are.
 */
export function handSessions(events: readonly BenchEvent[], gap: number, bound: number, out: Tally): void {
  const byKey = new Map<number, HandSession[]>();
  const queue = new DueQueue();
  let wm = Number.NEGATIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  const fire = (s: HandSession) => {
    out.add({ key: s.key, start: s.start, end: s.end, value: s.count });
    const list = byKey.get(s.key) as HandSession[];
    if (list.length === 1) byKey.delete(s.key);
    else list.splice(list.indexOf(s), 1);
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as BenchEvent;
    const ts = e.ts;
    const list = byKey.get(e.key);
    // Live sessions of a key never touch each other, so one pass finds every one to merge.
    let into: HandSession | undefined;
    if (list !== undefined)
      for (let j = 0; j < list.length; j++) {
        const s = list[j] as HandSession;
        if (s.start > ts + gap || s.end < ts) continue;
        if (into === undefined) {
          into = s;
          if (ts < s.start) s.start = ts;
          if (ts + gap > s.end) s.end = ts + gap;
          s.count++;
        } else {
          if (s.start < into.start) into.start = s.start;
          if (s.end > into.end) into.end = s.end;
          into.count += s.count;
          s.alive = false;
          list.splice(j--, 1);
        }
      }
    if (into === undefined) {
      if (ts + gap <= wm) out.late++;
      else {
        const s: HandSession = { key: e.key, start: ts, end: ts + gap, count: 1, due: ts + gap, alive: true };
        if (list === undefined) byKey.set(e.key, [s]);
        else list.push(s);
        queue.push(s);
      }
    }
    if (ts > maxTs) {
      maxTs = ts;
      if (ts - bound - 1 > wm) wm = ts - bound - 1;
    }
    for (let s = queue.peek(); s !== undefined && s.due <= wm; s = queue.peek()) {
      queue.pop();
      if (!s.alive) continue;
      if (s.end > wm) {
        s.due = s.end;
        queue.push(s);
      } else fire(s);
    }
  }
  // At the end of input, sessions fire in end order, as the final watermark makes them.
  for (let s = queue.pop(); s !== undefined; s = queue.pop()) {
    if (!s.alive) continue;
    if (s.due !== s.end) {
      s.due = s.end;
      queue.push(s);
    } else fire(s);
  }
}

/**
 * Tumbling-window count as a typical RxJS user writes it: group by key,
 * then by window start, and count each group. Without watermarks nothing
 * tells a group it is complete, so every group stays open (a Subject and a
 * few subscribers per (key, window)) and all results come out when the
 * input completes: the same counts as the event-time loop as long as no
 * record is late. (A `bufferTime` version would cut windows by processing
 * time, so it could not produce event-time counts at all.)
 */
export function naiveRxjs(events: readonly BenchEvent[], size: number, out: Tally): void {
  from(events)
    .pipe(
      groupBy((e) => e.key),
      mergeMap((byKey) =>
        byKey.pipe(
          groupBy((e) => windowStart(e.ts, size)),
          mergeMap((byWindow) =>
            byWindow.pipe(
              countAll(),
              map((value): HandResult => ({ key: byKey.key, start: byWindow.key, end: byWindow.key + size, value })),
            ),
          ),
        ),
      ),
    )
    .subscribe((r) => out.add(r));
}
