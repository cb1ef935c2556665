/**
 * Keyed state that expires (internal, pure): one value per key, dropped once
 * the watermark passes `ttl` ms of event time after the key was last
 * written (Flink's `StateTtlConfig` with `OnCreateAndWrite` and
 * `NeverReturnExpired`, in event time). Reads do not extend a key's life.
 *
 * Each key has at most one timer entry, lazily late: when it comes due and
 * the key was written since, it is pushed again at the new expiry. The heap
 * therefore holds one entry per live key, however often keys are written.
 *
 * @internal
 * @module
 */
import { check, copyAccumulators, decodeTime, encodeTime } from '../checkpoint/snapshot.js';
import { type Timer, TimerHeap } from '../windows/timer-heap.js';
import { isKey, type WindowKey } from '../windows/window-result.js';

class Slot<K, S> implements Timer {
  constructor(
    readonly key: K,
    public value: S,
    /** Expires once the watermark reaches it. */
    public expiresAt: number,
    /** The timer entry's due time (may be earlier than `expiresAt`). */
    public time: number,
    readonly seq: number,
  ) {}
}

/** Snapshot of a {@link KeyedTtlState}, columnar. @internal */
export interface KeyedTtlSnapshot {
  seq: number;
  watermark: unknown;
  keys: WindowKey[];
  values: unknown[];
  expires: unknown[];
}

/** @internal */
export class KeyedTtlState<K extends WindowKey, S> {
  private readonly slots = new Map<K, Slot<K, S>>();
  private readonly timers = new TimerHeap<Slot<K, S>>();
  private seq = 0;
  /** Keys expired so far in this run. */
  expired = 0;
  /** The last watermark passed to {@link advance}: state expiring at or before it is never returned. */
  private watermark = Number.NEGATIVE_INFINITY;

  /** @param ttl - ms of event time, > 0; `Infinity` keeps state forever. */
  constructor(readonly ttl: number) {}

  get size(): number {
    return this.slots.size;
  }

  get(key: K): S | undefined {
    const slot = this.slots.get(key);
    return slot === undefined || slot.expiresAt <= this.watermark ? undefined : slot.value;
  }

  /** Writes `value` for `key` at event time `timestamp`: it lives until the watermark reaches `timestamp + ttl` (never shortened). */
  set(key: K, value: S, timestamp: number): void {
    const expiresAt = timestamp + this.ttl;
    const slot = this.slots.get(key);
    if (slot !== undefined && slot.expiresAt > this.watermark) {
      slot.value = value;
      if (expiresAt > slot.expiresAt) slot.expiresAt = expiresAt;
      return;
    }
    // A new key, or an expired state not yet purged (a late record wrote it),
    // which starts over as a new slot: its old timer entry finds it replaced.
    const s = new Slot<K, S>(key, value, expiresAt, expiresAt, this.seq++);
    if (slot !== undefined) this.slots.delete(key); // re-inserted last, in first-write order
    this.slots.set(key, s);
    if (expiresAt !== Number.POSITIVE_INFINITY) this.timers.push(s);
  }

  /**
   * Expires `key` now if its state is due at event time `at` (a record of
   * that key at `at` must not see it), calling `expire`. Returns whether it did.
   */
  expireIfDue(key: K, at: number, expire?: (key: K, value: S, expiredAt: number) => void): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined || slot.expiresAt > at) return false;
    this.slots.delete(key);
    this.expired++;
    expire?.(key, slot.value, slot.expiresAt);
    return true;
  }

  delete(key: K): void {
    this.slots.delete(key); // its timer entry finds it gone
  }

  /** The watermark advanced: drops every key whose state expired, calling `expire` for each (oldest first). */
  advance(watermark: number, expire?: (key: K, value: S, expiredAt: number) => void): void {
    if (watermark > this.watermark) this.watermark = watermark;
    const timers = this.timers;
    while (timers.size > 0 && timers.peekTime() <= watermark) {
      const s = timers.pop() as Slot<K, S>;
      if (this.slots.get(s.key) !== s) continue; // deleted (and perhaps written again: a new slot)
      // An entry due before its key's expiry goes back at the expiry, even when that
      // is due too: keys then expire in (expiry, first write) order, as after a restore.
      if (s.time !== s.expiresAt) {
        s.time = s.expiresAt;
        timers.push(s);
        continue;
      }
      this.slots.delete(s.key);
      this.expired++;
      expire?.(s.key, s.value, s.expiresAt);
    }
  }

  /** Every live key and value, in first-write order. */
  entries(): IterableIterator<[K, S]> {
    const it = this.slots.values();
    return (function* () {
      for (const s of it) yield [s.key, s.value] as [K, S];
    })();
  }

  snapshot(): KeyedTtlSnapshot {
    const st: KeyedTtlSnapshot = { seq: this.seq, watermark: encodeTime(this.watermark), keys: [], values: [], expires: [] };
    for (const s of this.slots.values()) {
      st.keys.push(s.key);
      st.values.push(s.value);
      st.expires.push(encodeTime(s.expiresAt));
    }
    st.values = copyAccumulators(st.values);
    return st;
  }

  restore(state: unknown, where: string): void {
    const st = state as Partial<KeyedTtlSnapshot> | null;
    const n = Array.isArray(st?.keys) ? st.keys.length : -1;
    check(
      n >= 0 && Number.isSafeInteger(st?.seq) && [st?.values, st?.expires].every((c) => Array.isArray(c) && c.length === n),
      where,
      'expected { seq, keys, values, expires } of equal length',
    );
    this.slots.clear();
    this.timers.clear();
    this.seq = st?.seq as number;
    this.watermark = decodeTime(st?.watermark ?? null, `${where}.watermark`);
    const values = copyAccumulators((st as KeyedTtlSnapshot).values);
    const { keys, expires } = st as KeyedTtlSnapshot;
    for (let i = 0; i < n; i++) {
      const key = keys[i] as K;
      check(isKey(key) && !this.slots.has(key), where, `invalid or repeated key ${JSON.stringify(key)}`);
      const expiresAt = decodeTime(expires[i], `${where}.expires`);
      // Sequence numbers in snapshot order keep expiry ties in the uninterrupted run's order.
      const s = new Slot<K, S>(key, values[i] as S, expiresAt, expiresAt, i - n + this.seq);
      this.slots.set(key, s);
      if (expiresAt !== Number.POSITIVE_INFINITY) this.timers.push(s);
    }
  }
}
