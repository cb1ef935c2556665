/**
 * Count windows (pure): the last `size` records of a key, every `slide`
 * records, in event-time order.
 *
 * Records are counted in timestamp order (ties in arrival order), not in
 * arrival order: each waits until the watermark passes its timestamp, so
 * a window holds the same records whatever order they arrived in within the
 * bound, and a batch run over the log agrees with the stream. A key's
 * records are folded into chunks of `gcd(size, slide)` records; a window is
 * the merge of its chunks, so each record costs one `add` and each firing
 * `size / gcd` merges (none for a tumbling count window).
 *
 * @module
 */
import type { Aggregate } from '../aggregates/aggregate.js';
import { check, copyAccumulators, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { InvalidOptionError } from '../errors.js';
import { requirePositiveInteger } from '../options.js';
import { KeyedTtlState } from '../state/keyed-ttl-state.js';
import { type Timer, TimerHeap } from './timer-heap.js';
import { isKey, type WindowKey } from './window-result.js';

/**
 * Count windows of `size` records every `slide` records, per key. Made by
 * {@link countWindow}; used by {@link countWindowBy}.
 */
export interface CountWindows {
  readonly kind: 'count';
  readonly size: number;
  readonly slide: number;
}

/**
 * Count windows: `countWindow(n)` fires every `n` records of a key with
 * those `n` records (tumbling); `countWindow(n, slide)` fires every `slide`
 * records with the last `n` (fewer while the key has had fewer than `n`),
 * as Flink's `countWindow(size, slide)`. Pass it to {@link countWindowBy}.
 *
 * @param size - records per window, a whole number >= 1
 * @param slide - records between firings, a whole number from 1 to `size`; default `size`
 * @throws {@link InvalidOptionError} when `size` or `slide` is not a whole number >= 1, or `slide > size`
 * @example
 * ```ts
 * import { countWindow } from 'tidemark';
 * const last100 = countWindow(100, 1); // the last 100 records, after each record
 * console.log(last100.size, last100.slide); // 100 1
 * ```
 * @see {@link countWindowBy}, {@link tumbling}
 */
export function countWindow(size: number, slide: number = size): CountWindows {
  requirePositiveInteger('countWindow.size', size);
  requirePositiveInteger('countWindow.slide', slide);
  if (slide > size)
    throw new InvalidOptionError(
      'countWindow.slide',
      `must be <= size (${size}), got ${slide}: records between windows would belong to none; use countWindow(${size}) for non-overlapping windows`,
    );
  return { kind: 'count', size, slide };
}

/**
 * One firing of a count window of one key. Its event timestamp in the output
 * stream is `last`, the timestamp of its newest record.
 *
 * @example
 * ```ts
 * import type { CountWindowResult } from 'tidemark';
 * const r: CountWindowResult<string, number> = { key: 'u1', value: 250, count: 100, first: 1_000, last: 98_000, index: 0 };
 * ```
 */
export interface CountWindowResult<K extends WindowKey, R> {
  readonly key: K;
  /** The aggregate over the window's records. */
  readonly value: R;
  /** Records in the window: `size`, or fewer for the first firings of a sliding count window. */
  readonly count: number;
  /** Timestamp of the window's oldest record. */
  readonly first: number;
  /** Timestamp of its newest record. */
  readonly last: number;
  /** Firings of this key so far, from 0. */
  readonly index: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A key's counting state: plain data, so that it snapshots as it is. @internal */
interface KeyCounts<A> {
  /** Complete chunks, oldest first (at most size / chunk), and their first timestamps. */
  chunks: A[];
  firsts: number[];
  /** The chunk being filled. */
  cur: A;
  curFirst: number;
  inCur: number;
  /** Records counted for this key. */
  total: number;
}

class Pending<K, T> implements Timer {
  constructor(
    readonly key: K,
    readonly value: T,
    readonly time: number,
    readonly seq: number,
  ) {}
}

/** Snapshot of a {@link CountWindowEngine}. @internal */
interface CountState {
  seq: number;
  pending: { keys: WindowKey[]; ts: unknown[]; values: unknown[]; seqs: number[] };
  keys: unknown;
}

/** @internal */
export class CountWindowEngine<T, K extends WindowKey, A, R> {
  private readonly pending = new TimerHeap<Pending<K, T>>();
  private readonly keys: KeyedTtlState<K, KeyCounts<A>>;
  private readonly chunk: number;
  private seq = 0;

  constructor(
    private readonly windows: CountWindows,
    private readonly aggregate: Aggregate<T, A, R>,
    ttl: number,
    private readonly emit: (result: CountWindowResult<K, R>, timestamp: number) => void,
  ) {
    this.chunk = gcd(windows.size, windows.slide);
    this.keys = new KeyedTtlState(ttl);
  }

  get pendingRecords(): number {
    return this.pending.size;
  }
  get openKeys(): number {
    return this.keys.size;
  }
  get expiredKeys(): number {
    return this.keys.expired;
  }

  /** A record that is not late: it counts once the watermark passes its timestamp. */
  add(value: T, timestamp: number, key: K): void {
    this.pending.push(new Pending(key, value, timestamp, this.seq++));
  }

  advance(watermark: number): void {
    const pending = this.pending;
    const keys = this.keys;
    while (pending.size > 0 && pending.peekTime() <= watermark) {
      const p = pending.pop() as Pending<K, T>;
      keys.advance(p.time); // a key silent for `ttl` before this record starts over
      this.count(p.key, p.value, p.time);
    }
    keys.advance(watermark);
  }

  private count(key: K, value: T, ts: number): void {
    const { aggregate, chunk } = this;
    const { size, slide } = this.windows;
    let k = this.keys.get(key);
    if (k === undefined) {
      k = { chunks: [], firsts: [], cur: aggregate.create(), curFirst: ts, inCur: 0, total: 0 };
    }
    if (k.inCur === 0) k.curFirst = ts;
    k.cur = aggregate.add(k.cur, value);
    k.inCur++;
    k.total++;
    this.keys.set(key, k, ts);
    if (k.inCur < chunk) return;
    k.chunks.push(k.cur);
    k.firsts.push(k.curFirst);
    if (k.chunks.length > size / chunk) {
      k.chunks.shift();
      k.firsts.shift();
    }
    k.cur = aggregate.create();
    k.inCur = 0;
    if (k.total % slide !== 0) return;
    const n = k.chunks.length;
    let acc: A;
    if (n === 1) acc = k.chunks[0] as A;
    else {
      acc = aggregate.create();
      for (const c of k.chunks) acc = aggregate.merge(acc, c);
    }
    const result: CountWindowResult<K, R> = {
      key,
      value: aggregate.result(acc),
      count: n * chunk,
      first: k.firsts[0] as number,
      last: ts,
      index: k.total / slide - 1,
    };
    // A tumbling window's chunk is never used again.
    if (size === slide) {
      k.chunks.length = 0;
      k.firsts.length = 0;
    }
    this.emit(result, ts);
  }

  snapshot(): CountState {
    const pending: CountState['pending'] = { keys: [], ts: [], values: [], seqs: [] };
    // Heap order is irrelevant: each entry keeps its (time, seq).
    for (const p of this.pending.values()) {
      pending.keys.push(p.key);
      pending.ts.push(encodeTime(p.time));
      pending.values.push(p.value);
      pending.seqs.push(p.seq);
    }
    pending.values = copyAccumulators(pending.values);
    return { seq: this.seq, pending, keys: this.keys.snapshot() };
  }

  restore(state: unknown, where: string): void {
    const s = state as Partial<CountState> | null;
    const p = s?.pending;
    const n = Array.isArray(p?.keys) ? p.keys.length : -1;
    check(
      Number.isSafeInteger(s?.seq) && n >= 0 && [p?.ts, p?.values, p?.seqs].every((c) => Array.isArray(c) && c.length === n),
      where,
      'expected { seq, pending, keys }',
    );
    this.seq = s?.seq as number;
    this.pending.clear();
    const { keys, ts, values, seqs } = p as CountState['pending'];
    const copies = copyAccumulators(values) as T[];
    for (let i = 0; i < n; i++) {
      check(isKey(keys[i]) && Number.isSafeInteger(seqs[i]), `${where}.pending`, `record ${i} is malformed`);
      this.pending.push(new Pending(keys[i] as K, copies[i] as T, decodeTime(ts[i], `${where}.pending`), seqs[i] as number));
    }
    this.keys.restore(s?.keys, `${where}.keys`);
  }
}
