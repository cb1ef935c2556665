/**
 * The windows of one batch run by (key, start, end), for the batch layer's
 * hot path (internal).
 *
 * A batch run fires millions of windows (one per key and window per
 * client: 3 M for the 10 M-event reconcile bench), and each is then looked
 * up once to pair it with the client's uploaded window. `WindowMap` (a
 * `Map` per key of `Map`s by start) allocates a map entry per window, and
 * starts are epoch milliseconds, so every `Map` key is a boxed double: GC
 * took more time than the lookups. Here a window is an entry in
 * open-addressing typed arrays (key id, start, end) and its value in one
 * array: no allocation per window beyond the arrays' growth. The typed
 * arrays of a {@link WindowIndex.release}d index go to the next one: each
 * is an `ArrayBuffer` outside the heap, slow to allocate, and a run per
 * client allocating its own took longer than its lookups. Same identity
 * as `WindowMap` and `windowId` (the number `1` and the string `'1'` are
 * different keys; `0` and `-0` the same start), same pane rule
 * ({@link paneWins}).
 *
 * @internal
 * @module
 */
import { paneWins, type WindowRef } from '../windows/identity.js';
import type { WindowKey } from '../windows/window-result.js';

// The bits of a double, for hashing it.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function hash(keyId: number, start: number, end: number): number {
  // `+ 0` turns -0 into 0: equal starts must hash alike.
  f64[0] = start + 0;
  let h = Math.imul(keyId ^ 0x5bd1e995, 0x9e3779b1) ^ (u32[0] as number);
  h = Math.imul(h ^ (u32[1] as number), 0x85ebca6b);
  f64[0] = end + 0;
  h = Math.imul(h ^ (u32[0] as number), 0xc2b2ae35) ^ (u32[1] as number);
  return h ^ (h >>> 15);
}

/** The typed arrays of an index. */
interface Storage {
  table: Int32Array; // entry + 1 per cell; 0 = empty
  keys: Int32Array;
  starts: Float64Array;
  ends: Float64Array;
}

/** Storage of released indexes, for the next ones; a few, and none too large to clear. */
const spare: Storage[] = [];
const MAX_SPARE = 4;
const MAX_SPARE_TABLE = 1 << 17;

function storage(): Storage {
  const s = spare.pop();
  if (!s) return { table: new Int32Array(64), keys: new Int32Array(32), starts: new Float64Array(32), ends: new Float64Array(32) };
  s.table.fill(0);
  return s;
}

/** @internal */
export class WindowIndex<V extends WindowRef & { readonly pane?: number | undefined }> {
  private readonly keyIds = new Map<WindowKey, number>();
  private table: Int32Array;
  private mask: number;
  private keys: Int32Array;
  private starts: Float64Array;
  private ends: Float64Array;
  private entries: V[] = [];
  private released = false;

  constructor() {
    const s = storage();
    ({ table: this.table, keys: this.keys, starts: this.starts, ends: this.ends } = s);
    this.mask = s.table.length - 1;
  }

  /** Hands the index's storage to the next index; this one is empty from now on, and must not be offered more. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.entries = [];
    this.keyIds.clear();
    if (spare.length < MAX_SPARE && this.table.length <= MAX_SPARE_TABLE)
      spare.push({ table: this.table, keys: this.keys, starts: this.starts, ends: this.ends });
  }

  get size(): number {
    return this.entries.length;
  }

  /** The value of entry `i` (0 ≤ i < size), in first-offered order. */
  at(i: number): V {
    return this.entries[i] as V;
  }

  /** The entry of the window, or -1. */
  indexOf(key: WindowKey, start: number, end: number): number {
    const id = this.keyIds.get(key);
    if (id === undefined) return -1;
    const { table, mask, keys, starts, ends } = this;
    for (let h = hash(id, start, end) & mask; ; h = (h + 1) & mask) {
      const e = (table[h] as number) - 1;
      if (e < 0) return -1;
      if (keys[e] === id && starts[e] === start && ends[e] === end) return e;
    }
  }

  get(key: WindowKey, start: number, end: number): V | undefined {
    const i = this.indexOf(key, start, end);
    return i < 0 ? undefined : this.entries[i];
  }

  /** Adds `value`, or replaces the window's value if {@link paneWins} says so; answers whether it did. */
  offer(value: V): boolean {
    if (this.released) throw new Error('WindowIndex: offer() after release()');
    const { key, start, end } = value;
    let id = this.keyIds.get(key);
    if (id === undefined) this.keyIds.set(key, (id = this.keyIds.size));
    const { table, mask, keys, starts, ends } = this;
    let h = hash(id, start, end) & mask;
    for (; ; h = (h + 1) & mask) {
      const e = (table[h] as number) - 1;
      if (e < 0) break;
      if (keys[e] === id && starts[e] === start && ends[e] === end) {
        if (!paneWins(value, this.entries[e])) return false;
        this.entries[e] = value;
        return true;
      }
    }
    const e = this.entries.length;
    if (e === keys.length) this.growEntries();
    this.keys[e] = id;
    this.starts[e] = start;
    this.ends[e] = end;
    this.entries.push(value);
    if ((e + 1) * 2 > mask) this.rehash();
    else table[h] = e + 1;
    return true;
  }

  /** Every value, in first-offered order. */
  values(): V[] {
    return this.entries.slice();
  }

  private growEntries(): void {
    const n = this.keys.length * 2;
    const keys = new Int32Array(n);
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    keys.set(this.keys);
    starts.set(this.starts);
    ends.set(this.ends);
    this.keys = keys;
    this.starts = starts;
    this.ends = ends;
  }

  private rehash(): void {
    const size = (this.mask + 1) * 2;
    const table = new Int32Array(size);
    const mask = size - 1;
    const { keys, starts, ends } = this;
    for (let e = 0; e < this.entries.length; e++) {
      let h = hash(keys[e] as number, starts[e] as number, ends[e] as number) & mask;
      while (table[h] !== 0) h = (h + 1) & mask;
      table[h] = e + 1;
    }
    this.table = table;
    this.mask = mask;
  }
}
