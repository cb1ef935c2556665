/**
 * The playground's pipelines, built from a small configuration that travels
 * as a URL query: the worker runs `pipelineFor(config)` live, and the
 * playground server runs the same function over the log to reconcile.
 */
import type { Observable } from 'rxjs';
import { count, eventTime, max, session, sliding, sum, tumbling, windowBy } from 'tidemark';

/** One generated click: a page view by a user, with its event time. */
export interface Click {
  readonly page: string;
  readonly user: string;
  /** Event time (ms since the epoch): when the click happened on the device. */
  readonly ts: number;
  /** Time on page in ms, for the `sum` and `max` aggregates. */
  readonly dwell: number;
}

export type WindowKind = 'tumbling' | 'sliding' | 'session';
export type AggregateKind = 'count' | 'sum' | 'max';

/** What the pipeline picker chooses. Times in ms. */
export interface PlaygroundConfig {
  readonly window: WindowKind;
  /** Tumbling and sliding size; session gap. */
  readonly size: number;
  /** Sliding step. */
  readonly slide: number;
  readonly aggregate: AggregateKind;
  /** Watermark bound: how far behind the newest event time the watermark trails. */
  readonly bound: number;
  readonly lateness: number;
  /** Early firing every `early` records per window; 0 for none. */
  readonly early: number;
}

export const DEFAULT_CONFIG: PlaygroundConfig = {
  window: 'tumbling',
  size: 5_000,
  slide: 2_500,
  aggregate: 'count',
  bound: 1_500,
  lateness: 4_000,
  early: 0,
};

const WINDOWS: readonly WindowKind[] = ['tumbling', 'sliding', 'session'];
const AGGREGATES: readonly AggregateKind[] = ['count', 'sum', 'max'];

/** The configuration as a URL query. */
export function toQuery(config: PlaygroundConfig): string {
  const q = new URLSearchParams();
  for (const k of Object.keys(DEFAULT_CONFIG) as (keyof PlaygroundConfig)[]) q.set(k, String(config[k]));
  return q.toString();
}

/** The runtime's name for a configuration, e.g. `playground-tumbling.5000.2500.count.1500.4000.0`. */
export function databaseName(config: PlaygroundConfig): string {
  return `playground-${(Object.keys(DEFAULT_CONFIG) as (keyof PlaygroundConfig)[]).map((k) => config[k]).join('.')}`;
}

/** Reads a configuration from a query or a JSON object; anything missing or invalid takes the default. */
export function parseConfig(input: URLSearchParams | Record<string, unknown>): PlaygroundConfig {
  const get = (k: string): unknown => (input instanceof URLSearchParams ? input.get(k) : input[k]);
  const num = (k: keyof PlaygroundConfig, min: number, maxValue: number): number => {
    const v = Number(get(k));
    return Number.isInteger(v) && v >= min && v <= maxValue ? v : (DEFAULT_CONFIG[k] as number);
  };
  const pick = <T extends string>(k: keyof PlaygroundConfig, options: readonly T[]): T => {
    const v = get(k);
    return options.includes(v as T) ? (v as T) : (DEFAULT_CONFIG[k] as T);
  };
  const size = num('size', 500, 600_000);
  return {
    window: pick('window', WINDOWS),
    size,
    slide: Math.min(num('slide', 250, 600_000), size),
    aggregate: pick('aggregate', AGGREGATES),
    bound: num('bound', 0, 600_000),
    lateness: num('lateness', 0, 3_600_000),
    early: num('early', 0, 10_000),
  };
}

/** One line describing the pipeline, for the page. */
export function describeConfig(c: PlaygroundConfig): string {
  const s = (ms: number) => `${ms / 1000} s`;
  const window =
    c.window === 'tumbling'
      ? `tumbling(${s(c.size)})`
      : c.window === 'sliding'
        ? `sliding(${s(c.size)}, every ${s(c.slide)})`
        : `session(gap ${s(c.size)})`;
  const agg = c.aggregate === 'count' ? 'count()' : `${c.aggregate}(dwell)`;
  const early = c.early > 0 ? `, early every ${c.early}` : '';
  return `${c.window === 'session' ? 'per user' : 'per page'} · ${window} · ${agg} · bound ${s(c.bound)} · allowed lateness ${s(c.lateness)}${early}`;
}

/**
 * The pipeline: event time from `ts`, a watermark `bound` behind, windows
 * per page (sessions per user), late records counted by the runtime. The
 * worker runs it, and the server's batch layer runs the same function: its
 * batch mode and its finality rule (only windows the client's watermark
 * has passed) are the product's, not the playground's.
 */
export function pipelineFor(config: PlaygroundConfig) {
  const c = config;
  const window = c.window === 'tumbling' ? tumbling(c.size) : c.window === 'sliding' ? sliding(c.size, c.slide) : session(c.size);
  const aggregate = c.aggregate === 'count' ? count() : c.aggregate === 'sum' ? sum((e: Click) => e.dwell) : max((e: Click) => e.dwell);
  const key = c.window === 'session' ? (e: Click) => e.user : (e: Click) => e.page;
  return (events$: Observable<Click>) =>
    events$.pipe(
      eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: c.bound }),
      windowBy({
        key,
        window,
        aggregate: aggregate as ReturnType<typeof count>,
        allowedLateness: c.lateness,
        ...(c.early > 0 ? { early: { count: c.early } } : {}),
      }),
    );
}
