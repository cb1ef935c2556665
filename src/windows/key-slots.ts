/**
 * An insertion-ordered set of window keys, each with a dense slot number
 * (internal). A bucket keeps its accumulators in an array indexed by slot.
 *
 * Integer keys (the common case: user, item, auction ids) live in an
 * open-addressing table of `Int32Array` slots: one multiply and a probe or
 * two per lookup, faster than a `Map`, and smaller (`npm run bench` measures
 * ~21 bytes per open (key, window) against ~29 for a `Map<number, number>`).
 * Other keys (strings, fractional numbers) go to a `Map<key, slot>`, which
 * costs about 20 bytes per key more than a `Map<key, acc>` would. Either
 * way, slots follow first-insertion order, which is the order windows fire
 * in, identical before and after a restore.
 *
 * @internal
 * @module
 */
import type { WindowKey } from './window-result.js';

const isInt = (key: WindowKey): key is number => typeof key === 'number' && (key | 0) === key;
// Fibonacci hashing spreads consecutive ids over the table.
const hash = (key: number) => Math.imul(key, 0x9e3779b1);

/**
 * The table of a set with no integer key yet: read-only (never written,
 * `add` grows it first). A bucket of string keys then allocates no typed
 * array: an `ArrayBuffer` each costs more than the bucket's other state,
 * and a batch run over many small clients opens thousands of buckets.
 */
const EMPTY = new Int32Array(1);

/** @internal */
export class KeySlots<K extends WindowKey> {
  /** Keys by slot, in first-insertion order. */
  readonly keys: K[] = [];
  private table = EMPTY; // slot + 1 per cell; 0 = empty
  private mask = 0;
  private ints = 0;
  private others: Map<K, number> | undefined;

  get size(): number {
    return this.keys.length;
  }

  /** The slot of `key`, or -1 when absent. */
  find(key: K): number {
    if (isInt(key)) {
      const { table, mask, keys } = this;
      for (let h = hash(key) & mask; ; h = (h + 1) & mask) {
        const s = table[h] as number;
        if (s === 0) return -1;
        if (keys[s - 1] === key) return s - 1;
      }
    }
    return this.others?.get(key) ?? -1;
  }

  /** Adds a key that {@link find} reported absent; returns its slot. */
  add(key: K): number {
    const slot = this.keys.length;
    if (isInt(key)) {
      this.keys.push((key | 0) as K); // normalizes -0, as a Map would
      if (++this.ints * 2 > this.mask) this.grow();
      else this.place(this.table, this.mask, key, slot);
    } else {
      this.keys.push(key);
      (this.others ??= new Map()).set(key, slot);
    }
    return slot;
  }

  private place(table: Int32Array, mask: number, key: number, slot: number): void {
    let h = hash(key) & mask;
    while (table[h] !== 0) h = (h + 1) & mask;
    table[h] = slot + 1;
  }

  private grow(): void {
    const size = this.table === EMPTY ? 16 : (this.mask + 1) * 2;
    const table = new Int32Array(size);
    const mask = size - 1;
    const keys = this.keys;
    for (let s = 0; s < keys.length; s++) {
      const k = keys[s] as K;
      if (isInt(k)) this.place(table, mask, k, s);
    }
    this.table = table;
    this.mask = mask;
  }
}
