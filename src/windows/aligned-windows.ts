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
import { KeySlots } from './key-slots.js';
import { type Timer, TimerHeap } from './timer-heap.js';
import { type EngineConfig, isKey, type Timing, type WindowEngine, type WindowKey } from './window-result.js';

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
interface BucketState<K, A> {
  start: number;
  end: number;
  keys: K[];
  accs: A[];
  panes?: [K, number][];
  early?: [K, number][];
  changed?: K[];
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
    const { size, slide, offset } = this;
    const lateness = this.config.allowedLateness;
    // Tumbling windows are sliding windows with slide = size: one turn.
    let accepted = false;
    for (let n = alignedIndex(timestamp, offset, slide); ; n--) {
      const start = n * slide + offset;
      if (start <= timestamp - size) break;
      if (start + size - 1 + lateness <= watermark) break; // earlier starts are later still
      this.addTo(this.bucket(n, start, watermark), key, value, watermark);
      accepted = true;
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

  private addTo(b: Bucket<K, A>, key: K, value: T, watermark: number): void {
    const { aggregate } = this.config;
    let slot = b.slots.find(key);
    if (slot < 0) {
      slot = b.slots.add(key);
      b.accs.push(aggregate.create());
    }
    const acc = aggregate.add(b.accs[slot] as A, value);
    b.accs[slot] = acc;
    if (b.end - 1 <= watermark) {
      this.fire(b, key, acc, 'late');
      return;
    }
    const n = this.config.earlyCount;
    if (n > 0) {
      const early = (b.early ??= new Map());
      const c = (early.get(key) ?? 0) + 1;
      if (c >= n) {
        early.set(key, 0);
        this.fire(b, key, acc, 'early');
        return;
      }
      early.set(key, c);
    }
    if (this.config.trackDirty) (b.changed ??= new Set()).add(key);
  }

  private fire(b: Bucket<K, A>, key: K, acc: A, timing: Timing): void {
    const pane = b.panes?.get(key) ?? 0;
    // An on-time pane with no allowed lateness is the last: the bucket is purged next.
    if (timing !== 'on-time' || this.config.allowedLateness > 0) (b.panes ??= new Map()).set(key, pane + 1);
    b.changed?.delete(key);
    const result = { key, start: b.start, end: b.end, value: this.config.aggregate.result(acc), timing, pane };
    this.config.emit(result, b.end - 1);
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
        for (let i = 0; i < keys.length; i++) this.fire(b, keys[i] as K, b.accs[i] as A, 'on-time');
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
      for (const key of b.changed) this.fire(b, key, b.accs[b.slots.find(key)] as A, 'early');
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
      if (b.end - 1 <= watermark) this.toPurge(b);
      this.buckets.set(b.start, b);
      this.timers.push(b);
    }
  }
}
