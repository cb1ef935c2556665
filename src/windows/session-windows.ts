/**
 * The state machine for session windows (internal).
 *
 * Each key keeps its live sessions in a short array. A record opens
 * `[ts, ts + gap)`; every session of the key that intersects it
 * (`a.start <= b.end && a.end >= b.start`: touching sessions merge, as in
 * Flink) is merged with it. The merge happens in place: the earliest session
 * takes the new bounds (it becomes a new window: panes count from 0 again)
 * and the others die. Most records extend a session, so this path allocates
 * nothing and touches no timer.
 *
 * Timers are lazy: each session has one entry in the timer heap, which may
 * be due earlier than the session now is (its end moved on). When such an
 * entry comes up it is simply pushed again at the session's current due
 * time; only when a session's due time moves *earlier* (a passed session
 * that grows beyond the watermark again) is a new entry pushed. Entries are
 * ordered by `(time, seq)` and `seq` belongs to the session, so firings come
 * out in the same order in a run restored from a snapshot.
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
import { TidemarkError } from '../errors.js';
import { type WindowChange, withKind } from './changelog.js';
import { type Timer, TimerHeap } from './timer-heap.js';
import { type EngineConfig, isKey, type Timing, type WindowEngine, type WindowKey, type WindowResult } from './window-result.js';

class Session<K extends WindowKey, A> {
  alive = true;
  /** Firings of the current window so far. */
  panes = 0;
  /** Records since the last early firing (early.count). */
  early = 0;
  /** Changed since its last firing (early.interval). */
  changed = false;
  /** The row this span last emitted (changelog output). */
  emitted: WindowChange<K, unknown> | undefined;
  /** The session's live timer entry. */
  entry: Entry<K, A> | undefined;
  constructor(
    readonly key: K,
    public start: number,
    public end: number,
    public acc: A,
    readonly seq: number,
  ) {}
}

class Entry<K extends WindowKey, A> implements Timer {
  constructor(
    public time: number,
    readonly seq: number,
    readonly session: Session<K, A>,
  ) {}
}

/** Columnar snapshot of every live session. @internal */
interface SessionState<K extends WindowKey, A> {
  nextSeq: number;
  keys: K[];
  starts: number[];
  ends: number[];
  accs: A[];
  seqs: number[];
  panes: number[];
  early: number[];
  changed: boolean[];
  /** The row each span last emitted, `null` for none (changelog output only). */
  emitted?: (WindowChange<K, unknown> | null)[];
}

/** @internal */
export class SessionWindows<T, K extends WindowKey, A, R> implements WindowEngine<T, K> {
  private readonly byKey = new Map<K, Session<K, A>[]>();
  private readonly timers = new TimerHeap<Entry<K, A>>();
  private nextSeq = 0;
  private live = 0;

  constructor(
    private readonly gap: number,
    private readonly config: EngineConfig<T, K, A, R>,
  ) {}

  /** When the session's timer must go off: its end (fire on time), or end + lateness (purge). */
  private due(s: Session<K, A>, watermark: number): number {
    return s.end <= watermark ? s.end + this.config.allowedLateness : s.end;
  }

  add(value: T, timestamp: number, key: K, watermark: number): boolean {
    const { aggregate, allowedLateness } = this.config;
    let start = timestamp;
    let end = timestamp + this.gap;
    const list = this.byKey.get(key);
    let first: Session<K, A> | undefined;
    let more: Session<K, A>[] | undefined;
    if (list !== undefined) {
      for (const s of list) {
        if (s.start > end || s.end < start) continue;
        if (s.start <= timestamp && s.end >= end) {
          // The record falls inside a session without extending it.
          s.acc = aggregate.add(s.acc, value);
          this.changed(s, watermark);
          return true;
        }
        if (first === undefined) first = s;
        else (more ??= []).push(s);
      }
    }
    if (first === undefined) {
      if (end + allowedLateness <= watermark) return false;
      const s = new Session<K, A>(key, start, end, aggregate.add(aggregate.create(), value), this.nextSeq++);
      if (list === undefined) this.byKey.set(key, [s]);
      else list.push(s);
      this.live++;
      this.schedule(s, watermark);
      this.changed(s, watermark);
      return true;
    }
    // Merge: `first` absorbs the record and every other intersecting session.
    const parts = more === undefined ? [first] : [first, ...more].sort((a, b) => a.start - b.start);
    for (const s of parts) {
      if (s.start < start) start = s.start;
      if (s.end > end) end = s.end;
    }
    if (end + allowedLateness <= watermark) return false; // nothing merges
    // Every span this one supersedes (itself included: its bounds change) takes back the row it showed.
    if (this.config.changelog)
      for (const s of parts)
        if (s.emitted !== undefined) {
          this.config.emit(withKind(s.emitted, 'delete') as WindowResult<K, R>, s.end);
          s.emitted = undefined;
        }
    const keep = parts[0] as Session<K, A>;
    let acc = keep.acc;
    let early = keep.early;
    for (let i = 1; i < parts.length; i++) {
      const s = parts[i] as Session<K, A>;
      acc = aggregate.merge(acc, s.acc);
      early += s.early;
      s.alive = false;
      (list as Session<K, A>[]).splice((list as Session<K, A>[]).indexOf(s), 1);
      this.live--;
    }
    const entryTime = keep.entry?.time ?? Number.POSITIVE_INFINITY;
    keep.start = start;
    keep.end = end;
    keep.acc = aggregate.add(acc, value);
    keep.early = early;
    keep.panes = 0; // new bounds, new window
    keep.changed = false;
    // The timer may stay lazily early, but never late.
    if (this.due(keep, watermark) < entryTime) this.schedule(keep, watermark);
    this.changed(keep, watermark);
    return true;
  }

  private schedule(s: Session<K, A>, watermark: number): void {
    s.entry = new Entry(this.due(s, watermark), s.seq, s);
    this.timers.push(s.entry);
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
    const { config } = this;
    const value = config.aggregate.result(s.acc);
    // A session's last timestamp is its end (see above).
    if (!config.changelog) {
      config.emit({ key: s.key, start: s.start, end: s.end, value, timing, pane }, s.end);
      return;
    }
    const shown = s.emitted;
    if (shown !== undefined) config.emit(withKind(shown, 'update-before') as WindowResult<K, R>, s.end);
    const row: WindowChange<K, unknown> = {
      key: s.key,
      start: s.start,
      end: s.end,
      value,
      timing,
      pane,
      kind: shown === undefined ? 'insert' : 'update-after',
    };
    // An on-time pane with no allowed lateness is the last: the session is purged next.
    s.emitted = timing !== 'on-time' || config.allowedLateness > 0 ? row : undefined;
    config.emit(row as WindowResult<K, R>, s.end);
  }

  retract(): boolean {
    // windowBy refuses session windows over a changelog when it is created.
    throw new TidemarkError('session windows cannot take records back; use tumbling or sliding windows over a changelog');
  }

  advance(watermark: number): void {
    const timers = this.timers;
    const lateness = this.config.allowedLateness;
    while (timers.size > 0 && timers.peekTime() <= watermark) {
      const e = timers.pop() as Entry<K, A>;
      const s = e.session;
      if (!s.alive || s.entry !== e) continue; // merged away, or superseded by an earlier entry
      if (e.time < s.end) {
        // The session grew since this entry was pushed: not due yet.
        e.time = s.end;
        timers.push(e);
        continue;
      }
      if (e.time === s.end) {
        // On time. A session that received records after the watermark
        // passed it was never "on time": its entry is due at end + lateness.
        this.fire(s, 'on-time');
        s.early = 0;
        if (s.end + lateness > watermark) {
          e.time = s.end + lateness;
          timers.push(e);
          continue;
        }
      } else if (e.time < s.end + lateness) {
        e.time = s.end + lateness;
        timers.push(e);
        continue;
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
    const emitted: (WindowChange<K, unknown> | null)[] | undefined = this.config.changelog ? [] : undefined;
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
        emitted?.push(s.emitted ?? null);
      }
    st.accs = copyAccumulators(st.accs);
    if (emitted !== undefined) st.emitted = structuredClone(emitted);
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
    const emitted = st.emitted === undefined ? undefined : structuredClone(st.emitted);
    check(emitted === undefined || (Array.isArray(emitted) && emitted.length === n), 'windowBy.sessions', 'malformed emitted rows');
    for (let i = 0; i < n; i++) {
      check(isKey(st.keys[i]), 'windowBy.sessions', `invalid key ${JSON.stringify(st.keys[i])}`);
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
      s.emitted = emitted?.[i] ?? undefined;
      const list = this.byKey.get(s.key);
      if (list === undefined) this.byKey.set(s.key, [s]);
      else list.push(s);
      this.live++;
      this.schedule(s, watermark);
    }
  }
}
