/**
 * Per-source watermarks with idleness (pure), as Flink's
 * `StatusWatermarkValve`: each source (a client, an input of a join) has its
 * own watermark; the combined watermark is the minimum over the active
 * sources, an idle source does not hold it back, and when every source is
 * idle it is the maximum over all of them. The combined watermark never goes
 * back: a source that becomes active again behind it holds further progress
 * until it catches up, and its records behind it are late.
 *
 * The minimum is kept incrementally: a source's advance costs O(1) unless it
 * was the last one at the minimum, which rescans the active sources.
 *
 * @internal
 * @module
 */
import { check, decodeTime, type EncodedTime, encodeTime } from '../checkpoint/snapshot.js';

/** One source in a snapshot: `[id, watermark, idle]`. @internal */
export type SourceEntry = readonly [id: string, watermark: EncodedTime, idle: boolean];

/** Snapshot of a {@link WatermarkMultiplexer}. @internal */
export interface MultiplexerState {
  readonly watermark: EncodedTime;
  readonly sources: readonly SourceEntry[];
}

interface Source {
  watermark: number;
  idle: boolean;
  /** When the source was last heard from, in the caller's units (a tick count, a time). */
  seenAt: number;
}

/** @internal */
export class WatermarkMultiplexer {
  /** The combined watermark (monotonic). */
  current = Number.NEGATIVE_INFINITY;
  private readonly sources = new Map<string, Source>();
  private active = 0;
  /** Minimum over the active sources (`+Infinity` when none is active), and how many sit at it. */
  private min = Number.POSITIVE_INFINITY;
  private atMin = 0;
  /** Maximum over all sources: the combined watermark when every source is idle. */
  private max = Number.NEGATIVE_INFINITY;

  /** Sources seen so far. */
  get size(): number {
    return this.sources.size;
  }

  /** Sources not idle. */
  get activeCount(): number {
    return this.active;
  }

  /** The watermark of `source`, `undefined` when never seen. */
  watermarkOf(source: string): number | undefined {
    return this.sources.get(source)?.watermark;
  }

  /** Whether `source` is idle (`undefined` when never seen). */
  isIdle(source: string): boolean | undefined {
    return this.sources.get(source)?.idle;
  }

  /**
   * `source` reports `watermark` (a lower one than it had is ignored) and is
   * active from now on, heard from at `seenAt` (see {@link idleSince}).
   * Returns `true` when the combined watermark advanced.
   */
  update(source: string, watermark: number, seenAt = 0): boolean {
    let s = this.sources.get(source);
    if (s === undefined) {
      s = { watermark, idle: true, seenAt };
      this.sources.set(source, s);
      if (watermark > this.max) this.max = watermark;
      this.activate(s);
      return this.advance();
    }
    s.seenAt = seenAt;
    if (s.idle) {
      if (watermark > s.watermark) s.watermark = watermark;
      if (s.watermark > this.max) this.max = s.watermark;
      this.activate(s);
      return this.advance();
    }
    if (watermark <= s.watermark) return false;
    const old = s.watermark;
    s.watermark = watermark;
    if (watermark > this.max) this.max = watermark;
    if (old === this.min && --this.atMin === 0) this.rescan();
    return this.advance();
  }

  /** `source` is active again without a new watermark. Returns `true` when the combined watermark advanced. */
  markActive(source: string): boolean {
    const s = this.sources.get(source);
    if (s === undefined || !s.idle) return false;
    this.activate(s);
    return this.advance();
  }

  /** `source` stops holding the combined watermark back. Returns `true` when the combined watermark advanced. */
  markIdle(source: string): boolean {
    const s = this.sources.get(source);
    if (s === undefined || s.idle) return false;
    s.idle = true;
    this.active--;
    if (s.watermark === this.min && --this.atMin === 0) this.rescan();
    return this.advance();
  }

  /**
   * Marks idle every active source last heard from before `seenAt`. Returns
   * `true` when the combined watermark advanced.
   */
  idleSince(seenAt: number): boolean {
    let changed = false;
    for (const s of this.sources.values()) {
      if (s.idle || s.seenAt >= seenAt) continue;
      s.idle = true;
      this.active--;
      changed = true;
    }
    if (!changed) return false;
    this.rescan();
    return this.advance();
  }

  /**
   * Every source is idle and processing time says event time has reached
   * `watermark`: the combined watermark follows it (a single idle input's
   * rule). Ignored while any source is active. Returns `true` when it advanced.
   */
  followIdle(watermark: number): boolean {
    if (this.active > 0 || watermark <= this.current) return false;
    this.current = watermark;
    return true;
  }

  /** Every source is complete: the combined watermark becomes `+Infinity`. Returns `true` when it advanced. */
  end(): boolean {
    if (this.current === Number.POSITIVE_INFINITY) return false;
    this.current = Number.POSITIVE_INFINITY;
    return true;
  }

  /** Calls `fn` for each active source. */
  forEachActive(fn: (source: string) => void): void {
    for (const [id, s] of this.sources) if (!s.idle) fn(id);
  }

  snapshot(): MultiplexerState {
    const sources: SourceEntry[] = [];
    for (const [id, s] of this.sources) sources.push([id, encodeTime(s.watermark), s.idle]);
    return { watermark: encodeTime(this.current), sources };
  }

  restore(state: unknown, where: string): void {
    const s = state as Partial<MultiplexerState> | null;
    check(typeof s === 'object' && s !== null && Array.isArray(s.sources), where, 'expected { watermark, sources: [] }');
    this.sources.clear();
    this.active = 0;
    this.max = Number.NEGATIVE_INFINITY;
    for (const entry of s.sources as unknown[]) {
      check(Array.isArray(entry) && entry.length === 3, `${where}.sources`, 'each source is [id, watermark, idle]');
      const [id, wm, idle] = entry as unknown[];
      check(typeof id === 'string' && typeof idle === 'boolean', `${where}.sources`, 'each source is [id, watermark, idle]');
      const watermark = decodeTime(wm, `${where}.sources[${JSON.stringify(id)}]`);
      this.sources.set(id, { watermark, idle, seenAt: 0 });
      if (!idle) this.active++;
      if (watermark > this.max) this.max = watermark;
    }
    this.rescan();
    this.current = decodeTime(s.watermark, `${where}.watermark`);
  }

  private activate(s: Source): void {
    s.idle = false;
    this.active++;
    if (s.watermark < this.min) {
      this.min = s.watermark;
      this.atMin = 1;
    } else if (s.watermark === this.min) this.atMin++;
  }

  private rescan(): void {
    let min = Number.POSITIVE_INFINITY;
    let at = 0;
    for (const s of this.sources.values()) {
      if (s.idle) continue;
      if (s.watermark < min) {
        min = s.watermark;
        at = 1;
      } else if (s.watermark === min) at++;
    }
    this.min = min;
    this.atMin = at;
  }

  private advance(): boolean {
    const combined = this.active > 0 ? this.min : this.max;
    if (combined <= this.current) return false;
    this.current = combined;
    return true;
  }
}
