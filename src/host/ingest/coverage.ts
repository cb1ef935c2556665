/**
 * Which sequence numbers of one client a log holds: everything up to
 * `through`, plus sorted disjoint ranges above it (after a gap). Makes
 * ingest idempotent in any order: a replayed or reordered batch finds its
 * events already covered.
 *
 * @internal
 * @module
 */
import type { WireEvent } from '../../protocol/wire.js';
import type { ClientProgress } from './log.js';

export class Coverage {
  /** Every sequence number in `1..through` is held. */
  through = 0;
  /** Held ranges above `through + 1`, sorted, disjoint, not adjacent. */
  above: [number, number][] = [];
  /** Number of sequence numbers held. */
  count = 0;

  get highest(): number {
    return this.above.length === 0 ? this.through : this.above[this.above.length - 1]![1];
  }

  has(seq: number): boolean {
    if (seq <= this.through) return true;
    const a = this.above;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = a[mid]!;
      if (seq < r[0]) hi = mid - 1;
      else if (seq > r[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The events (sorted by strictly increasing seq) not held yet. */
  fresh<E extends Pick<WireEvent, 'seq'>>(events: readonly E[]): E[] {
    if (events.length === 0) return [];
    if (this.above.length === 0) {
      // The common case, in order: one comparison per event.
      let i = 0;
      while (i < events.length && events[i]!.seq <= this.through) i++;
      return i === 0 ? (events as E[]) : events.slice(i);
    }
    return events.filter((e) => !this.has(e.seq));
  }

  /** Every sequence number either holds, as a new coverage. */
  static union(a: Coverage, b: Coverage): Coverage {
    const ranges: [number, number][] = [];
    for (const c of [a, b]) {
      if (c.through > 0) ranges.push([1, c.through]);
      for (const r of c.above) ranges.push([r[0], r[1]]);
    }
    ranges.sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push(r);
    }
    const out = new Coverage();
    if (merged[0]?.[0] === 1) out.through = merged.shift()![1];
    out.above = merged;
    out.count = out.through + merged.reduce((n, r) => n + r[1] - r[0] + 1, 0);
    return out;
  }

  /** Records sequence numbers as held (sorted, strictly increasing, none held before). */
  add(seqs: readonly number[]): void {
    let i = 0;
    while (i < seqs.length) {
      let j = i;
      while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
      this.addRange(seqs[i]!, seqs[j]!);
      i = j + 1;
    }
  }

  addRange(first: number, last: number): void {
    this.count += last - first + 1;
    const a = this.above;
    a.push([first, last]);
    if (a.length > 1 && a[a.length - 2]![0] > first) a.sort((x, y) => x[0] - y[0]);
    // Merge adjacent ranges, then fold the ones touching `through` into it.
    let w = 0;
    for (let r = 1; r < a.length; r++) {
      if (a[r]![0] <= a[w]![1] + 1) a[w]![1] = Math.max(a[w]![1], a[r]![1]);
      else a[++w] = a[r]!;
    }
    a.length = a.length === 0 ? 0 : w + 1;
    while (a.length > 0 && a[0]![0] <= this.through + 1) {
      this.through = Math.max(this.through, a[0]![1]);
      a.shift();
    }
  }

  /** Missing ranges below the highest held, oldest first (at most `limit`). */
  gaps(limit = 16): [number, number][] {
    const out: [number, number][] = [];
    let prev = this.through;
    for (const [first, last] of this.above) {
      if (out.length >= limit) break;
      out.push([prev + 1, first - 1]);
      prev = last;
    }
    return out;
  }

  missing(): number {
    return this.highest - this.count;
  }
}

/** A client's progress, as `EventLog.clients()` reports it, from its coverage. */
export function progress(clientId: string, c: Coverage): ClientProgress {
  return { clientId, ackedThrough: c.through, highest: c.highest, events: c.count, missing: c.missing() };
}

/**
 * The events of `clientId` that `seen` does not hold yet, now marked as
 * held: what a reader keeps, per client, to pass each event of a log that
 * may hold one twice on once (`events` sorted by strictly increasing seq).
 */
export function freshOnce<E extends Pick<WireEvent, 'seq'>>(seen: Map<string, Coverage>, clientId: string, events: readonly E[]): E[] {
  let held = seen.get(clientId);
  if (!held) seen.set(clientId, (held = new Coverage()));
  const fresh = held.fresh(events);
  if (fresh.length > 0) held.add(fresh.map((e) => e.seq));
  return fresh;
}
