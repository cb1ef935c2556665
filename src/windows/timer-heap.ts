/**
 * A binary min-heap of timers ordered by `(time, seq)` (internal). The
 * sequence number breaks ties the same way in an uninterrupted run and in
 * one restored from a snapshot, so firings come out in the same order.
 *
 * @internal
 * @module
 */

/** Something with a due time. `time` and `seq` must not change while it is in the heap. @internal */
export interface Timer {
  time: number;
  readonly seq: number;
}

/** @internal */
export class TimerHeap<E extends Timer> {
  private readonly items: E[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Due time of the earliest timer, or +Infinity when empty. */
  peekTime(): number {
    return this.items.length === 0 ? Number.POSITIVE_INFINITY : (this.items[0] as E).time;
  }

  push(item: E): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as E;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): E | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    const n = items.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r] as E, items[l] as E) ? r : l;
      if (!before(items[c] as E, last)) break;
      items[i] = items[c] as E;
      i = c;
    }
    items[i] = last;
    return top;
  }

  /** The timers, in heap order (for snapshots). */
  values(): readonly E[] {
    return this.items;
  }

  clear(): void {
    this.items.length = 0;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
