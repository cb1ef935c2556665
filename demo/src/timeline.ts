/**
 * The timeline chart (uPlot): x is processing time (when the page saw
 * something), y is event time. Events are dots (red when they arrive behind
 * the watermark), the watermark is a line drawn over them (with a light halo,
 * so it stays visible inside a dense band of events), firings are marks at
 * their window's end, coloured by timing, and window spans are shaded bands.
 *
 * Firings are summarised per window: the panes of one timing and one window
 * end that fire within a second of each other (the five pages of a window
 * firing on time, say) make one mark, labelled with how many keys fired.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Timing } from 'tidemark';

/** What the chart shows: everything since `now - span`. */
const SPAN_MS = 40_000;
const COLORS = {
  event: '#0e7490',
  behind: '#dc2626',
  watermark: '#111827',
  early: '#d97706',
  'on-time': '#16a34a',
  firedLate: '#a21caf',
};

type Kind = 'event' | 'behind' | 'watermark';
/** The chart's data columns after x, in order: the watermark's feeds both its halo and its line. */
const COLUMN = { event: 0, behind: 1, watermark: 2 } as const;
interface Point {
  readonly x: number;
  readonly y: number;
  readonly kind: Kind;
}

/** Dots drawn per emitted batch (the generator emits every 100 ms): see {@link Timeline.events}. */
const DOTS_PER_BATCH = 10;
/** Firings of one timing and window end within this many ms of the first share one mark. */
const GROUP_MS = 1_000;
/** One mark: the firings of a window end, of one timing, within {@link GROUP_MS}. */
interface Firing {
  readonly x: number;
  readonly y: number;
  readonly timing: Timing;
  readonly keys: Set<unknown>;
}
const FIRING_COLOR: Record<Timing, string> = { early: COLORS.early, 'on-time': COLORS['on-time'], late: COLORS.firedLate };

/** How to shade window spans on the event-time axis. */
export type Bands = { readonly kind: 'grid'; readonly step: number } | { readonly kind: 'spans'; readonly spans: () => readonly [number, number][] };

const time = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const clock = (ms: number) => time.format(ms);

export class Timeline {
  private points: Point[] = [];
  private firings: Firing[] = [];
  /** The latest mark of each `timing|end`, which firings within {@link GROUP_MS} join. */
  private readonly open = new Map<string, Firing>();
  private readonly plot: uPlot;
  private bands: Bands = { kind: 'grid', step: 5_000 };

  constructor(host: HTMLElement) {
    const series = (label: string, stroke: string, size: number, line = false): uPlot.Series => ({
      label,
      stroke,
      fill: line ? undefined : stroke,
      width: line ? 2 : 0,
      spanGaps: line,
      paths: line ? undefined : () => null,
      points: line ? { show: false } : { show: true, size, stroke, fill: stroke, width: 0 },
    });
    this.plot = new uPlot(
      {
        width: Math.max(300, host.clientWidth),
        height: Math.max(220, host.clientHeight),
        ms: 1,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: {
          x: { time: true, range: () => [Date.now() - SPAN_MS, Date.now() + 500] },
          y: { time: false, range: () => [Date.now() - SPAN_MS - 5_000, Date.now() + 2_000] },
        },
        axes: [
          { stroke: '#64748b', grid: { stroke: '#eef2f7' }, ticks: { stroke: '#e2e8f0' }, values: (_u, ticks) => ticks.map(clock) },
          {
            stroke: '#64748b',
            size: 70,
            grid: { stroke: '#eef2f7' },
            ticks: { stroke: '#e2e8f0' },
            values: (_u, ticks) => ticks.map(clock),
            incrs: [1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000],
          },
        ],
        series: [
          {},
          series('event', COLORS.event, 4),
          series('behind watermark', COLORS.behind, 6),
          // Drawn after the events: a wide light halo, then the line itself.
          { label: 'watermark halo', stroke: 'rgba(255,255,255,0.9)', width: 7, spanGaps: true, points: { show: false } },
          { label: 'watermark', stroke: COLORS.watermark, width: 2.5, spanGaps: true, points: { show: false } },
        ],
        hooks: { drawClear: [(u) => this.shade(u)], draw: [(u) => this.drawFirings(u)] },
      },
      [[], [], [], [], []],
      host,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, host.clientWidth), height: Math.max(220, host.clientHeight) })).observe(host);
  }

  setBands(bands: Bands): void {
    this.bands = bands;
  }

  /**
   * A batch of events the page emitted at `at`: at most {@link DOTS_PER_BATCH}
   * of them are drawn, evenly spread, so that the share of red dots stays the
   * share of events behind the watermark. Above ~100 events/s the band looks
   * the same, and drawing every dot (16 k at 400 events/s, five times a
   * second) kept the page's main thread busy half of the time.
   */
  events(at: number, ts: readonly number[], watermark: number): void {
    const step = Math.max(1, ts.length / DOTS_PER_BATCH);
    for (let i = 0; i < ts.length; i += step) {
      const y = ts[Math.floor(i)] as number;
      this.points.push({ x: at, y, kind: y <= watermark ? 'behind' : 'event' });
    }
  }

  watermark(at: number, y: number): void {
    if (Number.isFinite(y)) this.points.push({ x: at, y, kind: 'watermark' });
  }

  /** A pane of `key`'s window ending at `end` fired at `at`: it joins the window's mark of that timing, or starts one. */
  fired(at: number, end: number, timing: Timing, key: unknown): void {
    const id = `${timing}|${end}`;
    const mark = this.open.get(id);
    if (mark && at - mark.x < GROUP_MS) {
      mark.keys.add(key);
      return;
    }
    const next: Firing = { x: at, y: end, timing, keys: new Set([key]) };
    this.firings.push(next);
    this.open.set(id, next);
  }

  clear(): void {
    this.points = [];
    this.firings = [];
    this.open.clear();
  }

  /** Redraws with the latest points (call on an interval: the axes move with the clock). */
  draw(): void {
    const from = Date.now() - SPAN_MS - 2_000;
    let drop = 0;
    while (drop < this.points.length && (this.points[drop] as Point).x < from) drop++;
    if (drop > 0) this.points = this.points.slice(drop);
    this.firings = this.firings.filter((f) => f.x >= from);
    for (const [id, f] of this.open) if (f.x < from) this.open.delete(id);
    // Points arrive in processing-time order: one aligned x array, one column per kind.
    const n = this.points.length;
    const cols: (number | null)[][] = Array.from({ length: 3 }, () => new Array<number | null>(n).fill(null));
    const xs = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const p = this.points[i] as Point;
      xs[i] = p.x;
      (cols[COLUMN[p.kind]] as (number | null)[])[i] = p.y;
    }
    const [event, behind, watermark] = cols;
    this.plot.setData([xs, event, behind, watermark, watermark] as uPlot.AlignedData);
  }

  /** One circle per mark, in its timing's colour, with the number of keys when more than one fired. */
  private drawFirings(u: uPlot): void {
    const { ctx } = u;
    const px = uPlot.pxRatio;
    const [xmin, xmax] = [u.scales['x']?.min ?? 0, u.scales['x']?.max ?? 0];
    const [ymin, ymax] = [u.scales['y']?.min ?? 0, u.scales['y']?.max ?? 0];
    ctx.save();
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = `600 ${9 * px}px system-ui, sans-serif`;
    // Late marks first and on-time ones last: a window's first late panes fire right after its
    // on-time ones, at the same height, and the on-time mark must stay on top.
    const order: Record<Timing, number> = { late: 0, early: 1, 'on-time': 2 };
    for (const f of [...this.firings].sort((a, b) => order[a.timing] - order[b.timing])) {
      if (f.x < xmin || f.x > xmax || f.y < ymin || f.y > ymax) continue;
      const x = u.valToPos(f.x, 'x', true);
      const y = u.valToPos(f.y, 'y', true);
      const n = f.keys.size;
      ctx.beginPath();
      ctx.arc(x, y, (n > 1 ? 7.5 : 5.5) * px, 0, 2 * Math.PI);
      ctx.fillStyle = FIRING_COLOR[f.timing];
      ctx.fill();
      ctx.lineWidth = 1.5 * px;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      if (n > 1) {
        ctx.fillStyle = '#fff';
        ctx.fillText(String(n), x, y + 0.5 * px);
      }
    }
    ctx.restore();
  }

  private shade(u: uPlot): void {
    const { ctx, bbox } = u;
    const [lo, hi] = [u.scales['y']?.min ?? 0, u.scales['y']?.max ?? 0];
    const band = (start: number, end: number, fill: string) => {
      const top = u.valToPos(Math.min(end, hi), 'y', true);
      const bottom = u.valToPos(Math.max(start, lo), 'y', true);
      if (bottom <= top) return;
      ctx.fillStyle = fill;
      ctx.fillRect(bbox.left, top, bbox.width, bottom - top);
    };
    ctx.save();
    if (this.bands.kind === 'grid') {
      const step = this.bands.step;
      for (let s = Math.floor(lo / step) * step; s < hi; s += step)
        band(s, s + step, Math.floor(s / step) % 2 === 0 ? 'rgba(14,116,144,0.07)' : 'rgba(14,116,144,0.02)');
    } else for (const [start, end] of this.bands.spans()) band(start, end, 'rgba(14,116,144,0.035)');
    ctx.restore();
  }
}
