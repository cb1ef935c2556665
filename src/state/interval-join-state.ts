/**
 * The state machine of an interval join (internal), shared by
 * {@link intervalJoin} and the TTL {@link join}: both sides' records by key,
 * matched on arrival and purged by the watermark.
 *
 * A pair `(a, b)` of a left and a right record with the same key matches
 * when `b.ts - a.ts` lies in `[lower, upper]` (each end inclusive or
 * exclusive). A record is matched against the other side's records when it
 * arrives, then kept until the watermark makes another match impossible:
 * records at or behind the watermark are late and never arrive here, so a
 * left record is dead once `watermark >= a.ts + upper` and a right record
 * once `watermark >= b.ts - lower`. Each key keeps its records sorted by
 * timestamp, so a match is a binary search and a scan of exactly the
 * matching records. A side whose purge emits (left-outer rows) purges
 * exactly, from a heap in `(due, seq)` order; the others drop records in
 * arrival order, from the front while the front one is due, which costs no
 * heap and keeps a dead record at most the input's disorder longer (it can
 * no longer match anything on time, so outputs are the same).
 *
 * @internal
 * @module
 */
import { check, decodeTime } from '../checkpoint/snapshot.js';
import { isKey, type WindowKey } from '../windows/window-result.js';

/** How an interval join matches and emits. @internal */
export interface IntervalJoinConfig<L, R, O> {
  readonly lower: number;
  readonly upper: number;
  readonly lowerExclusive: boolean;
  readonly upperExclusive: boolean;
  readonly select: (left: L, right: R) => O;
  /** Left-outer: what a left record that matched nothing emits when it is purged. */
  readonly unmatched?: ((left: L) => O) | undefined;
  readonly emit: (value: O, timestamp: number) => void;
}

class Entry<V> {
  matched = false;
  /** Dropped from its key's list already (arrival-order purging). */
  dead = false;
  constructor(
    readonly key: WindowKey,
    readonly ts: number,
    readonly value: V,
    /** When it is purged: the watermark at which no further match is possible. */
    public time: number,
    readonly seq: number,
  ) {}
}

/**
 * One side: records by key (each list sorted by timestamp, ties in arrival
 * order) and a binary min-heap of the same records by `(time, seq)`. The
 * heap is inlined and kept in parallel arrays (times and sequence numbers as
 * packed doubles beside the records), because purging runs on nearly every
 * record and comparing through record objects costs a cache miss per level.
 */
class Side<V> {
  readonly byKey = new Map<WindowKey, Entry<V>[]>();
  /**
   * Without `exact`, records are also kept in arrival order and dropped from
   * the front while the front one is due: no heap, and a record due behind
   * one that is not waits (at most the input's disorder). Matching checks
   * the interval, so a dead record never matches; only a side whose purge
   * emits something (left-outer rows) needs `exact`.
   */
  private readonly fifo: Entry<V>[] = [];
  private head = 0;
  private readonly times: number[] = [];
  private readonly seqs: number[] = [];
  private readonly entries: Entry<V>[] = [];
  size = 0;
  purged = 0;

  constructor(private readonly exact: boolean) {}

  /** Due time of the first record to purge, `+Infinity` when none. */
  nextDue(): number {
    if (!this.exact) return this.head < this.fifo.length ? (this.fifo[this.head] as Entry<V>).time : Number.POSITIVE_INFINITY;
    return this.times.length === 0 ? Number.POSITIVE_INFINITY : (this.times[0] as number);
  }

  insert(e: Entry<V>): void {
    const list = this.byKey.get(e.key);
    if (list === undefined) this.byKey.set(e.key, [e]);
    else {
      // Nearly always appended: records arrive nearly in order. Otherwise
      // after every record of equal or lower timestamp (a hot key's list is long).
      if ((list[list.length - 1] as Entry<V>).ts <= e.ts) list.push(e);
      else list.splice(firstFrom(list, e.ts, true), 0, e);
    }
    this.size++;
    if (!this.exact) {
      this.fifo.push(e);
      return;
    }
    const { times, seqs, entries } = this;
    const time = e.time;
    const seq = e.seq;
    let i = times.length;
    times.push(time);
    seqs.push(seq);
    entries.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt < time || (pt === time && (seqs[parent] as number) < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent] as number;
      entries[i] = entries[parent] as Entry<V>;
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    entries[i] = e;
  }

  private pop(): Entry<V> {
    const { times, seqs, entries } = this;
    const top = entries[0] as Entry<V>;
    const time = times.pop() as number;
    const seq = seqs.pop() as number;
    const last = entries.pop() as Entry<V>;
    const n = times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let ct = times[l] as number;
      if (l + 1 < n) {
        const rt = times[l + 1] as number;
        if (rt < ct || (rt === ct && (seqs[l + 1] as number) < (seqs[l] as number))) {
          c = l + 1;
          ct = rt;
        }
      }
      if (time < ct || (time === ct && seq < (seqs[c] as number))) break;
      times[i] = ct;
      seqs[i] = seqs[c] as number;
      entries[i] = entries[c] as Entry<V>;
      i = c;
    }
    times[i] = time;
    seqs[i] = seq;
    entries[i] = last;
    return top;
  }

  /** Removes every record due at `watermark`, calling `dead` for each. */
  purge(watermark: number, dead: ((e: Entry<V>) => void) | undefined): void {
    if (!this.exact) {
      const fifo = this.fifo;
      let h = this.head;
      while (h < fifo.length && (fifo[h] as Entry<V>).time <= watermark) {
        const e = fifo[h++] as Entry<V>;
        if (!e.dead) this.trim(e.key, watermark);
      }
      if (h === fifo.length) {
        fifo.length = 0;
        h = 0;
      } else if (h > 1024 && h * 2 > fifo.length) {
        fifo.splice(0, h);
        h = 0;
      }
      this.head = h;
      return;
    }
    const times = this.times;
    while (times.length > 0 && (times[0] as number) <= watermark) {
      const e = this.pop();
      this.remove(e);
      dead?.(e);
    }
  }

  /**
   * Drops every due record of `key`: a key's list is sorted by timestamp and
   * a side's records are due at `ts + constant`, so they are a prefix.
   */
  private trim(key: WindowKey, watermark: number): void {
    const list = this.byKey.get(key) as Entry<V>[];
    let k = 0;
    while (k < list.length && (list[k] as Entry<V>).time <= watermark) (list[k++] as Entry<V>).dead = true;
    if (k === list.length) this.byKey.delete(key);
    else if (k === 1) list.shift();
    else list.splice(0, k);
    this.size -= k;
    this.purged += k;
  }

  private remove(e: Entry<V>): void {
    const list = this.byKey.get(e.key) as Entry<V>[];
    if (list.length === 1) this.byKey.delete(e.key);
    else if (list[0] === e) list.shift();
    else list.splice(list.indexOf(e), 1); // purged in arrival order, or equal purge times of different timestamps
    this.size--;
    this.purged++;
  }

  clear(): void {
    this.byKey.clear();
    this.fifo.length = 0;
    this.head = 0;
    this.times.length = 0;
    this.seqs.length = 0;
    this.entries.length = 0;
    this.size = 0;
  }
}

/** First index of `list` whose timestamp is `>= t` (or `> t` when `strict`). */
function firstFrom<V>(list: Entry<V>[], t: number, strict: boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const ts = (list[mid] as Entry<V>).ts;
    if (ts < t || (strict && ts === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Snapshot of one side, columnar: `[key, ts, value, seq, matched]` by position. @internal */
interface SideState {
  keys: WindowKey[];
  ts: number[];
  values: unknown[];
  seqs: number[];
  matched: boolean[];
}

/** Snapshot of an {@link IntervalJoinState}. @internal */
export interface IntervalJoinSnapshot {
  seq: number;
  left: SideState;
  right: SideState;
}

/** @internal */
export class IntervalJoinState<L, R, O> {
  private readonly left: Side<L>;
  private readonly right = new Side<R>(false);
  private seq = 0;
  /** Pairs emitted. */
  joined = 0;
  /** Left records emitted without a match (left-outer). */
  unmatchedRows = 0;

  constructor(private readonly config: IntervalJoinConfig<L, R, O>) {
    this.left = new Side<L>(config.unmatched !== undefined);
  }

  get leftSize(): number {
    return this.left.size;
  }
  get rightSize(): number {
    return this.right.size;
  }
  /** Records purged so far (both sides), since this run started. */
  get purged(): number {
    return this.left.purged + this.right.purged;
  }
  get keys(): number {
    return new Set([...this.left.byKey.keys(), ...this.right.byKey.keys()]).size;
  }

  /** A left record that is not late (`ts > watermark`). */
  addLeft(key: WindowKey, value: L, ts: number, watermark: number): void {
    const { lower, upper, lowerExclusive, upperExclusive, select, emit } = this.config;
    let matched = false;
    const others = this.right.byKey.get(key);
    if (others !== undefined) {
      const from = ts + lower;
      const to = ts + upper;
      for (let i = firstFrom(others, from, lowerExclusive); i < others.length; i++) {
        const b = others[i] as Entry<R>;
        if (b.ts > to || (upperExclusive && b.ts === to)) break;
        b.matched = true;
        matched = true;
        this.joined++;
        emit(select(value, b.value), b.ts > ts ? b.ts : ts);
      }
    }
    const time = ts + upper;
    if (time > watermark) {
      const e = new Entry<L>(key, ts, value, time, this.seq++);
      e.matched = matched;
      this.left.insert(e);
    } else if (!matched) this.noMatch(value, time);
  }

  /** A right record that is not late. */
  addRight(key: WindowKey, value: R, ts: number, watermark: number): void {
    const { lower, upper, lowerExclusive, upperExclusive, select, emit } = this.config;
    const others = this.left.byKey.get(key);
    if (others !== undefined) {
      const from = ts - upper;
      const to = ts - lower;
      for (let i = firstFrom(others, from, upperExclusive); i < others.length; i++) {
        const a = others[i] as Entry<L>;
        if (a.ts > to || (lowerExclusive && a.ts === to)) break;
        a.matched = true;
        this.joined++;
        emit(select(a.value, value), a.ts > ts ? a.ts : ts);
      }
    }
    const time = ts - lower;
    if (time > watermark) this.right.insert(new Entry<R>(key, ts, value, time, this.seq++));
  }

  /** The watermark advanced: purge what can no longer match (left-outer rows come out here). */
  advance(watermark: number): void {
    // Called on nearly every record (each one may move the watermark): no allocation, and usually nothing due.
    if (this.left.nextDue() <= watermark) this.left.purge(watermark, this.leftDead);
    if (this.right.nextDue() <= watermark) this.right.purge(watermark, undefined);
  }

  private readonly leftDead = (e: Entry<L>): void => {
    if (!e.matched) this.noMatch(e.value, e.time);
  };

  private noMatch(value: L, time: number): void {
    const unmatched = this.config.unmatched;
    if (unmatched === undefined) return;
    this.unmatchedRows++;
    // Stamped when it became certain (the purge time), so it is never behind the watermark downstream.
    this.config.emit(unmatched(value), time);
  }

  snapshot(): IntervalJoinSnapshot {
    return { seq: this.seq, left: sideState(this.left), right: sideState(this.right) };
  }

  restore(state: unknown, where: string): void {
    const s = state as Partial<IntervalJoinSnapshot> | null;
    check(typeof s === 'object' && s !== null && Number.isSafeInteger(s.seq), where, 'expected { seq, left, right }');
    this.seq = s.seq as number;
    restoreSide(this.left, s.left, `${where}.left`, (ts) => ts + this.config.upper);
    restoreSide(this.right, s.right, `${where}.right`, (ts) => ts - this.config.lower);
  }
}

function sideState<V>(side: Side<V>): SideState {
  const st: SideState = { keys: [], ts: [], values: [], seqs: [], matched: [] };
  for (const list of side.byKey.values())
    for (const e of list) {
      st.keys.push(e.key);
      st.ts.push(e.ts);
      st.values.push(e.value);
      st.seqs.push(e.seq);
      st.matched.push(e.matched);
    }
  st.values = structuredClone(st.values); // records may be mutated downstream; a snapshot shares nothing
  return st;
}

function restoreSide<V>(side: Side<V>, state: unknown, where: string, due: (ts: number) => number): void {
  const st = state as Partial<SideState> | null;
  const n = Array.isArray(st?.keys) ? st.keys.length : -1;
  check(
    n >= 0 && [st?.ts, st?.values, st?.seqs, st?.matched].every((c) => Array.isArray(c) && c.length === n),
    where,
    'expected record columns of equal length',
  );
  const { keys, ts, values, seqs, matched } = st as SideState;
  const copies = structuredClone(values) as V[];
  side.clear();
  for (let i = 0; i < n; i++) {
    const t = decodeTime(ts[i], `${where}.ts`);
    check(isKey(keys[i]) && Number.isSafeInteger(seqs[i]), where, `record ${i} has an invalid key or sequence number`);
    const e = new Entry<V>(keys[i] as WindowKey, t, copies[i] as V, due(t), seqs[i] as number);
    e.matched = matched[i] === true;
    side.insert(e);
  }
}
