/**
 * The state machine for session windows (internal).
 *
 * Each key keeps its live sessions in a short array. A record opens
 * `[ts, ts + gap)`; every session of the key that intersects it
 * (`a.start <= b.end && a.end >= b.start`: touching sessions merge, as in
 * Flink) is merged with it into a new session object. Session objects never
 * change their bounds, so they can sit in the timer heap directly; a merged
 * one is marked dead and skipped when its timer comes up.
 *
 * A session's last timestamp is `end`, not `end - 1` as for aligned windows:
 * since touching sessions merge, a record stamped exactly `end` still joins
 * it, so the session is complete only once the watermark reaches `end`.
 * (Flink fires at `end - 1` and can therefore split, under disorder, a
 * session that a batch run keeps whole; here stream and batch agree.) Late,
 * passed and purge tests use `end` accordingly.
 *
 * @internal
 * @module
 */
import { check, copyAccumulators } from '../checkpoint/snapshot.js';
import { type Timer, TimerHeap } from './timer-heap.js';
import type { EngineConfig, Timing, WindowEngine, WindowKey } from './window-result.js';

const FIRE = 0;
const PURGE = 1;

class Session<K, A> implements Timer {
  alive = true;
  phase = FIRE;
  time: number;
  /** Firings so far. */
  panes = 0;
  /** Records since the last early firing (early.count). */
  early = 0;
  /** Changed since its last firing (early.interval). */
  changed = false;
  constructor(
    readonly key: K,
    readonly start: number,
    readonly end: number,
    public acc: A,
    readonly seq: number,
  ) {
    this.time = end;
  }
}

/** Columnar snapshot of every live session. @internal */
interface SessionState<K, A> {
  nextSeq: number;
  keys: K[];
  starts: number[];
  ends: number[];
  accs: A[];
  seqs: number[];
  panes: number[];
  early: number[];
  changed: boolean[];
}

/** @internal */
export class SessionWindows<T, K extends WindowKey, A, R> implements WindowEngine<T, K> {
  private readonly byKey = new Map<K, Session<K, A>[]>();
  private readonly timers = new TimerHeap<Session<K, A>>();
  private nextSeq = 0;
  private live = 0;

  constructor(
    private readonly gap: number,
    private readonly config: EngineConfig<T, K, A, R>,
  ) {}

  add(value: T, timestamp: number, key: K, watermark: number): boolean {
    const { aggregate, allowedLateness } = this.config;
    let start = timestamp;
    let end = timestamp + this.gap;
    const list = this.byKey.get(key);
    let hits: Session<K, A>[] | undefined;
    if (list !== undefined) {
      for (const s of list) {
        if (s.start <= end && s.end >= start) {
          if (s.start <= timestamp && s.end >= end) {
            // The record falls inside a session without extending it.
            s.acc = aggregate.add(s.acc, value);
            this.changed(s, watermark);
            return true;
          }
          (hits ??= []).push(s);
        }
      }
    }
    if (hits !== undefined)
      for (const s of hits) {
        if (s.start < start) start = s.start;
        if (s.end > end) end = s.end;
      }
    if (end + allowedLateness <= watermark) return false;

    let acc = aggregate.create();
    let early = 0;
    if (hits !== undefined) {
      hits.sort((a, b) => a.start - b.start);
      acc = hits[0]?.acc as A;
      for (let i = 1; i < hits.length; i++) acc = aggregate.merge(acc, (hits[i] as Session<K, A>).acc);
      for (const s of hits) {
        s.alive = false;
        early += s.early;
        list?.splice(list.indexOf(s), 1);
      }
      this.live -= hits.length;
    }
    const merged = new Session<K, A>(key, start, end, aggregate.add(acc, value), this.nextSeq++);
    merged.early = early;
    this.track(merged, watermark);
    this.changed(merged, watermark);
    return true;
  }

  private track(s: Session<K, A>, watermark: number): void {
    // A session the watermark has already passed (within allowed lateness)
    // never fires on time: it only waits to be purged.
    if (s.end <= watermark) this.toPurge(s);
    const list = this.byKey.get(s.key);
    if (list === undefined) this.byKey.set(s.key, [s]);
    else list.push(s);
    this.timers.push(s);
    this.live++;
  }

  private changed(s: Session<K, A>, watermark: number): void {
    if (s.end <= watermark) {
      this.fire(s, 'late');
      return;
    }
    const n = this.config.earlyCount;
    if (n > 0 && ++s.early >= n) {
      s.early = 0;
      this.fire(s, 'early');
      return;
    }
    if (this.config.trackDirty) s.changed = true;
  }

  private fire(s: Session<K, A>, timing: Timing): void {
    const pane = s.panes++;
    s.changed = false;
    this.config.emit({
      key: s.key,
      start: s.start,
      end: s.end,
      value: this.config.aggregate.result(s.acc),
      timing,
      pane,
    });
  }

  private toPurge(s: Session<K, A>): void {
    s.phase = PURGE;
    s.time = s.end + this.config.allowedLateness;
  }

  advance(watermark: number): void {
    const timers = this.timers;
    while (timers.size > 0 && timers.peekTime() <= watermark) {
      const s = timers.pop() as Session<K, A>;
      if (!s.alive) continue;
      if (s.phase === FIRE) {
        this.fire(s, 'on-time');
        this.toPurge(s);
        if (s.time > watermark) {
          timers.push(s);
          continue;
        }
      }
      s.alive = false;
      this.live--;
      const list = this.byKey.get(s.key) as Session<K, A>[];
      if (list.length === 1) this.byKey.delete(s.key);
      else list.splice(list.indexOf(s), 1);
    }
  }

  fireChanged(watermark: number): void {
    for (const list of this.byKey.values())
      for (const s of list) if (s.changed && s.end > watermark) this.fire(s, 'early');
  }

  openWindows(): number {
    return this.live;
  }

  snapshot(): SessionState<K, A> {
    const st: SessionState<K, A> = {
      nextSeq: this.nextSeq,
      keys: [],
      starts: [],
      ends: [],
      accs: [],
      seqs: [],
      panes: [],
      early: [],
      changed: [],
    };
    for (const list of this.byKey.values())
      for (const s of list) {
        st.keys.push(s.key);
        st.starts.push(s.start);
        st.ends.push(s.end);
        st.accs.push(s.acc);
        st.seqs.push(s.seq);
        st.panes.push(s.panes);
        st.early.push(s.early);
        st.changed.push(s.changed);
      }
    st.accs = copyAccumulators(st.accs);
    return st;
  }

  restore(state: unknown, watermark: number): void {
    const st = state as SessionState<K, A>;
    const n = Array.isArray(st?.keys) ? st.keys.length : -1;
    const columns = [st?.starts, st?.ends, st?.accs, st?.seqs, st?.panes, st?.early, st?.changed];
    check(
      n >= 0 && Number.isSafeInteger(st.nextSeq) && columns.every((c) => Array.isArray(c) && c.length === n),
      'windowBy.sessions',
      'expected session columns of equal length',
    );
    this.byKey.clear();
    this.timers.clear();
    this.live = 0;
    this.nextSeq = st.nextSeq;
    const accs = copyAccumulators(st.accs);
    for (let i = 0; i < n; i++) {
      const s = new Session<K, A>(
        st.keys[i] as K,
        st.starts[i] as number,
        st.ends[i] as number,
        accs[i] as A,
        st.seqs[i] as number,
      );
      s.panes = st.panes[i] as number;
      s.early = st.early[i] as number;
      s.changed = st.changed[i] as boolean;
      this.track(s, watermark);
    }
  }
}
