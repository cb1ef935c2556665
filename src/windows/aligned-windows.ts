/**
 * The state machine for tumbling and sliding windows (internal).
 *
 * Aligned windows are shared by every key, so state is grouped by window
 * first: one {@link Bucket} per `[start, end)` holding its keys (a
 * {@link KeySlots}) and an array of accumulators by slot. A record costs one
 * bucket lookup (the last one, else a small ring of the open ones) and one
 * key lookup; firing walks a handful of buckets in end order. Per-key extras (pane counters,
 * early counters, changed keys) are allocated only when a feature needs
 * them, so a plain count costs one key slot and one array cell per
 * (key, window).
 *
 * @internal
 * @module
 */
import { check, copyAccumulators } from '../checkpoint/snapshot.js';
import { type WindowChange, withKind } from './changelog.js';
import { KeySlots } from './key-slots.js';
import { type Timer, TimerHeap } from './timer-heap.js';
import { type EngineConfig, isKey, type Timing, type WindowEngine, type WindowKey, type WindowResult } from './window-result.js';

/**
 * Number of the window of length `size` (aligned to `offset`) that contains
 * `timestamp`: `floor((timestamp - offset) / size)`, exactly. Its start is
 * `n * size + offset`.
 *
 * @internal
 */
export function alignedIndex(timestamp: number, offset: number, size: number): number {
  // Epoch milliseconds exceed int32, and `%` on doubles is a slow fmod call
  // (~10 ns); a floor division is ~3 ns. With whole-ms sizes and offsets the
  // start `n * size + offset` is an exact integer; the division's rounding
  // can put it one window off near a boundary, which the checks undo.
  let n = Math.floor((timestamp - offset) / size);
  const start = n * size + offset;
  if (start > timestamp) n--;
  else if (start + size <= timestamp) n++;
  return n;
}

/**
 * Start of the window of length `size` (aligned to `offset`) that contains
 * `timestamp`: `timestamp - mod(timestamp - offset, size)`, with a
 * non-negative `mod` so that negative timestamps are aligned too.
 *
 * @internal
 */
export function alignedStart(timestamp: number, offset: number, size: number): number {
  return alignedIndex(timestamp, offset, size) * size + offset;
}

const FIRE = 0;
const PURGE = 1;
const RING_MASK = 63;

class Bucket<K extends WindowKey, A> implements Timer {
  readonly slots = new KeySlots<K>();
  /** Accumulators by slot. */
  readonly accs: A[] = [];
  /** Firings so far per key, kept once a key may fire again. */
  panes: Map<K, number> | undefined;
  /** Records since the last early firing, per key (early.count). */
  early: Map<K, number> | undefined;
  /** Keys changed since their last firing (early.interval). */
  changed: Set<K> | undefined;
  /** Records minus retractions by slot, when the input is a changelog: a slot at 0 is an empty window. */
  rows: number[] | undefined;
  /** The live row each key last emitted (changelog output), kept once the key may fire again. */
  emitted: Map<K, WindowChange<K, unknown>> | undefined;
  phase = FIRE;
  time: number;
  readonly seq: number;
  constructor(
    /** Window number: `start = index * slide + offset`. */
    readonly index: number,
    readonly start: number,
    readonly end: number,
  ) {
    this.time = end - 1;
    this.seq = start;
  }
}

/** Columnar snapshot of one bucket. @internal */
interface BucketState<K extends WindowKey, A> {
  start: number;
  end: number;
  keys: K[];
  accs: A[];
  panes?: [K, number][];
  early?: [K, number][];
  changed?: K[];
  rows?: number[];
  emitted?: [K, WindowChange<K, unknown>][];
}

/** @internal */
export class AlignedWindows<T, K extends WindowKey, A, R> implements WindowEngine<T, K> {
  private readonly buckets = new Map<number, Bucket<K, A>>();
  private readonly timers = new TimerHeap<Bucket<K, A>>();
  private readonly ring: (Bucket<K, A> | undefined)[] = new Array(RING_MASK + 1).fill(undefined);
  private last: Bucket<K, A> | undefined;

  constructor(
    private readonly size: number,
    private readonly slide: number,
    private readonly offset: number,
    private readonly config: EngineConfig<T, K, A, R>,
  ) {}

  add(value: T, timestamp: number, key: K, watermark: number): boolean {
    return this.apply(value, timestamp, key, watermark, 1);
  }

  retract(value: T, timestamp: number, key: K, watermark: number): boolean {
    return this.apply(value, timestamp, key, watermark, -1);
  }

  /** Adds (`sign` 1) or retracts (`sign` -1) a record in each of its windows. */
  private apply(value: T, timestamp: number, key: K, watermark: number, sign: 1 | -1): boolean {
    const { size, slide, offset } = this;
    const lateness = this.config.allowedLateness;
    // Tumbling windows are sliding windows with slide = size: one turn.
    let accepted = false;
    for (let n = alignedIndex(timestamp, offset, slide); ; n--) {
      const start = n * slide + offset;
      if (start <= timestamp - size) break;
      if (start + size - 1 + lateness <= watermark) break; // earlier starts are later still
      if (this.addTo(this.bucket(n, start, watermark), key, value, watermark, sign)) accepted = true;
    }
    return accepted;
  }

  /** The bucket of window number `n`, which starts at `start`. */
  private bucket(n: number, start: number, watermark: number): Bucket<K, A> {
    // Open buckets are few and consecutive: a small ring indexed by window
    // number finds them without hashing. (`&` wraps large n modulo 2^32,
    // a multiple of the ring size, so slots stay consistent.)
    // Most records land in the window of the one before (always, for
    // tumbling windows in order): check that first.
    const last = this.last;
    if (last !== undefined && last.start === start) return last;
    const slot = n & RING_MASK;
    const cached = this.ring[slot];
    if (cached !== undefined && cached.start === start) return (this.last = cached);
    let b = this.buckets.get(start);
    if (b === undefined) {
      b = new Bucket<K, A>(n, start, start + this.size);
      if (this.config.retractions) b.rows = [];
      // A window the watermark has already passed (but within allowed
      // lateness) never fires on time: it only waits to be purged.
      if (b.end - 1 <= watermark) this.toPurge(b);
      this.buckets.set(start, b);
      this.timers.push(b);
    }
    this.ring[slot] = b;
    this.last = b;
    return b;
  }

  /** Folds one record in (or, `sign` -1, takes it back); `false` for a retraction of a key the window does not hold. */
  private addTo(b: Bucket<K, A>, key: K, value: T, watermark: number, sign: 1 | -1): boolean {
    const { aggregate } = this.config;
    let slot = b.slots.find(key);
    if (slot < 0) {
      if (sign < 0) return false;
      slot = b.slots.add(key);
      b.accs.push(aggregate.create());
      b.rows?.push(0);
    }
    let acc =
      sign > 0
        ? aggregate.add(b.accs[slot] as A, value)
        : (aggregate.retract as (a: A, v: T) => A)(b.accs[slot] as A, value);
    const rows = b.rows;
    if (rows !== undefined) {
      const left = (rows[slot] as number) + sign;
      rows[slot] = left;
      // Empty again: start afresh, so that rounding (sums of fractions) leaves nothing behind.
      if (left === 0) acc = aggregate.create();
    }
    b.accs[slot] = acc;
    if (b.end - 1 <= watermark) {
      this.fire(b, slot, key, acc, 'late');
      return true;
    }
    const n = this.config.earlyCount;
    if (n > 0) {
      const early = (b.early ??= new Map());
      const c = (early.get(key) ?? 0) + 1;
      if (c >= n) {
        early.set(key, 0);
        this.fire(b, slot, key, acc, 'early');
        return true;
      }
      early.set(key, c);
    }
    if (this.config.trackDirty) (b.changed ??= new Set()).add(key);
    return true;
  }

  private fire(b: Bucket<K, A>, slot: number, key: K, acc: A, timing: Timing): void {
    const config = this.config;
    b.changed?.delete(key);
    if (b.rows !== undefined && b.rows[slot] === 0) {
      // Retracted to nothing: no row, and the one shown before (if any) is deleted.
      const shown = b.emitted?.get(key);
      if (shown !== undefined) {
        (b.emitted as Map<K, unknown>).delete(key);
        config.emit(withKind(shown, 'delete') as WindowResult<K, R>, b.end - 1);
      }
      return;
    }
    const pane = b.panes?.get(key) ?? 0;
    // An on-time pane with no allowed lateness is the last: the bucket is purged next.
    const again = timing !== 'on-time' || config.allowedLateness > 0;
    if (again) (b.panes ??= new Map()).set(key, pane + 1);
    const value = config.aggregate.result(acc);
    if (!config.changelog) {
      config.emit({ key, start: b.start, end: b.end, value, timing, pane }, b.end - 1);
      return;
    }
    const shown = b.emitted?.get(key);
    if (shown !== undefined) config.emit(withKind(shown, 'update-before') as WindowResult<K, R>, b.end - 1);
    const row: WindowChange<K, unknown> = {
      key,
      start: b.start,
      end: b.end,
      value,
      timing,
      pane,
      kind: shown === undefined ? 'insert' : 'update-after',
    };
    if (again) (b.emitted ??= new Map()).set(key, row);
    config.emit(row as WindowResult<K, R>, b.end - 1);
  }

  private toPurge(b: Bucket<K, A>): void {
    b.phase = PURGE;
    b.time = b.end - 1 + this.config.allowedLateness;
    b.early = undefined;
    b.changed = undefined;
  }

  advance(watermark: number): void {
    const timers = this.timers;
    while (timers.size > 0 && timers.peekTime() <= watermark) {
      const b = timers.pop() as Bucket<K, A>;
      if (b.phase === FIRE) {
        const { keys } = b.slots;
        for (let i = 0; i < keys.length; i++) this.fire(b, i, keys[i] as K, b.accs[i] as A, 'on-time');
        this.toPurge(b);
        if (b.time > watermark) {
          timers.push(b);
          continue;
        }
      }
      this.buckets.delete(b.start);
      if (this.ring[b.index & RING_MASK] === b) this.ring[b.index & RING_MASK] = undefined;
      if (this.last === b) this.last = undefined;
    }
  }

  fireChanged(watermark: number): void {
    for (const b of this.buckets.values()) {
      if (b.changed === undefined || b.end - 1 <= watermark) continue;
      // fire() deletes the key being visited, which Set iteration allows.
      for (const key of b.changed) {
        const slot = b.slots.find(key);
        this.fire(b, slot, key, b.accs[slot] as A, 'early');
      }
    }
  }

  openWindows(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.slots.size;
    return n;
  }

  snapshot(): BucketState<K, A>[] {
    const out: BucketState<K, A>[] = [];
    for (const b of this.buckets.values()) {
      const s: BucketState<K, A> = { start: b.start, end: b.end, keys: b.slots.keys.slice(), accs: copyAccumulators(b.accs.slice()) };
      if (b.panes?.size) s.panes = [...b.panes];
      if (b.early?.size) s.early = [...b.early];
      if (b.changed?.size) s.changed = [...b.changed];
      if (b.rows !== undefined) s.rows = b.rows.slice();
      if (b.emitted?.size) s.emitted = structuredClone([...b.emitted]);
      out.push(s);
    }
    return out;
  }

  restore(state: unknown, watermark: number): void {
    check(Array.isArray(state), 'windowBy.windows', 'expected an array of windows');
    this.buckets.clear();
    this.timers.clear();
    this.ring.fill(undefined);
    this.last = undefined;
    for (const s of state as BucketState<K, A>[]) {
      const ok =
        typeof s === 'object' &&
        s !== null &&
        Number.isFinite(s.start) &&
        alignedStart(s.start, this.offset, this.slide) === s.start &&
        s.end === s.start + this.size &&
        Array.isArray(s.keys) &&
        Array.isArray(s.accs) &&
        s.keys.length === s.accs.length;
      check(ok, 'windowBy.windows', `window ${JSON.stringify(s?.start)} does not match this window size and slide`);
      const b = new Bucket<K, A>(alignedIndex(s.start, this.offset, this.slide), s.start, s.end);
      const accs = copyAccumulators(s.accs);
      for (let i = 0; i < s.keys.length; i++) {
        const key = s.keys[i] as K;
        const valid = isKey(key) && b.slots.find(key) < 0;
        check(valid, 'windowBy.windows', `window ${s.start} has an invalid or repeated key ${JSON.stringify(key)}`);
        b.slots.add(key);
        b.accs.push(accs[i] as A);
      }
      if (s.panes) b.panes = new Map(s.panes);
      if (s.early) b.early = new Map(s.early);
      if (s.changed) b.changed = new Set(s.changed);
      if (this.config.retractions) {
        const rows = s.rows;
        check(
          Array.isArray(rows) && rows.length === s.keys.length && rows.every((r) => Number.isSafeInteger(r)),
          'windowBy.windows',
          `window ${s.start} has no row counts, which a windowBy over a changelog keeps`,
        );
        b.rows = rows.slice();
      }
      if (s.emitted) {
        check(Array.isArray(s.emitted), 'windowBy.windows', `window ${s.start} has malformed emitted rows`);
        b.emitted = new Map(structuredClone(s.emitted));
      }
      if (b.end - 1 <= watermark) this.toPurge(b);
      this.buckets.set(b.start, b);
      this.timers.push(b);
    }
  }
}
