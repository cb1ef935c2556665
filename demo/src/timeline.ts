/**
 * The timeline chart (uPlot): x is processing time (when the page saw
 * something), y is event time. Events are dots (red when they arrive behind
 * the watermark), the watermark is a line, firings are marks at their
 * window's end, coloured by timing, and window spans are shaded bands.
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

type Kind = 'event' | 'behind' | 'watermark' | Timing;
/** The chart's series after x, in order; a late firing is `'late'` among firings, not an event behind the watermark. */
const COLUMN = { event: 0, behind: 1, watermark: 2, early: 3, 'on-time': 4, late: 5 } as const;
interface Point {
  readonly x: number;
  readonly y: number;
  readonly kind: Kind;
}

/** How to shade window spans on the event-time axis. */
export type Bands = { readonly kind: 'grid'; readonly step: number } | { readonly kind: 'spans'; readonly spans: () => readonly [number, number][] };

const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });

export class Timeline {
  private points: Point[] = [];
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
    const marker = (label: string, stroke: string): uPlot.Series => ({
      label,
      stroke,
      width: 0,
      paths: () => null,
      points: { show: true, size: 11, stroke: '#fff', fill: stroke, width: 1.5 },
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
          series('watermark', COLORS.watermark, 0, true),
          marker('early', COLORS.early),
          marker('on-time', COLORS['on-time']),
          marker('late', COLORS.firedLate),
        ],
        hooks: { drawClear: [(u) => this.shade(u)] },
      },
      [[], [], [], [], [], [], []],
      host,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, host.clientWidth), height: Math.max(220, host.clientHeight) })).observe(host);
  }

  setBands(bands: Bands): void {
    this.bands = bands;
  }

  events(at: number, ts: readonly number[], watermark: number): void {
    for (const y of ts) this.points.push({ x: at, y, kind: y <= watermark ? 'behind' : 'event' });
  }

  watermark(at: number, y: number): void {
    if (Number.isFinite(y)) this.points.push({ x: at, y, kind: 'watermark' });
  }

  fired(at: number, end: number, timing: Timing): void {
    this.points.push({ x: at, y: end, kind: timing });
  }

  clear(): void {
    this.points = [];
  }

  /** Redraws with the latest points (call on an interval: the axes move with the clock). */
  draw(): void {
    const from = Date.now() - SPAN_MS - 2_000;
    let drop = 0;
    while (drop < this.points.length && (this.points[drop] as Point).x < from) drop++;
    if (drop > 0) this.points = this.points.slice(drop);
    // Points arrive in processing-time order: one aligned x array, one column per kind.
    const n = this.points.length;
    const cols: (number | null)[][] = Array.from({ length: 6 }, () => new Array<number | null>(n).fill(null));
    const xs = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const p = this.points[i] as Point;
      xs[i] = p.x;
      (cols[COLUMN[p.kind]] as (number | null)[])[i] = p.y;
    }
    this.plot.setData([xs, ...cols] as uPlot.AlignedData);
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
