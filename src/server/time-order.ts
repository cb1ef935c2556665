/**
 * The order in which a batch run must see events so that none is late.
 *
 * @internal
 * @module
 */

/**
 * The order in which a batch run must see events so that none is late: by
 * time, ties by `tie` (sequence numbers) or else by position. Returns the
 * positions in that order.
 */
export function timeOrder(ts: ArrayLike<number>, tie?: ArrayLike<number>): Uint32Array {
  const n = ts.length;
  const order = new Uint32Array(n);
  let sorted = true;
  let tieSorted = true;
  let integers = true;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    const t = ts[i]!;
    if (t < min) min = t;
    if (t > max) max = t;
    if (!Number.isInteger(t)) integers = false;
    if (i > 0) {
      const prev = ts[i - 1]!;
      if (tie && tie[i]! < tie[i - 1]!) tieSorted = false;
      if (t < prev || (t === prev && tie && tie[i]! < tie[i - 1]!)) sorted = false;
    }
  }
  if (sorted || n < 2) return order;
  // Fast paths for integer times, with the position as the tie-breaker (so
  // the ties must already be in position order): a stable radix sort of the
  // offsets from the earliest time when they fit 32 bits (49 days), else
  // time and position packed into one exact double and sorted natively.
  // A comparator sort is ~10× slower than either.
  if (integers && tieSorted && max - min < 2 ** 32) return radixOrder(ts, min, max - min);
  if (integers && tieSorted && (max - min + 1) * n <= Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = (ts[i]! - min) * n + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i]! % n;
    return order;
  }
  return order.sort(tie ? (a, b) => ts[a]! - ts[b]! || tie[a]! - tie[b]! : (a, b) => ts[a]! - ts[b]! || a - b);
}

const DIGIT_BITS = 11;
const BUCKETS = 1 << DIGIT_BITS;

/** Positions sorted by `ts[i] - min` (< 2^32), stable: an LSD radix sort of 11-bit digits. */
function radixOrder(ts: ArrayLike<number>, min: number, span: number): Uint32Array {
  const n = ts.length;
  let keys = new Uint32Array(n);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = ts[i]! - min;
    order[i] = i;
  }
  let keysOut = new Uint32Array(n);
  let orderOut = new Uint32Array(n);
  const counts = new Uint32Array(BUCKETS);
  for (let shift = 0; shift < 32 && span >>> shift > 0; shift += DIGIT_BITS) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & (BUCKETS - 1)]!++;
    let sum = 0;
    for (let d = 0; d < BUCKETS; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const at = counts[(k >>> shift) & (BUCKETS - 1)]!++;
      keysOut[at] = k;
      orderOut[at] = order[i]!;
    }
    [keys, keysOut] = [keysOut, keys];
    [order, orderOut] = [orderOut, order];
  }
  return order;
}
