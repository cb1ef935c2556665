// The pipelines the browser benchmark runs, shared by the runtime worker
// (bench/browser/runtime.worker.ts) and the page, which runs the same ones
// in-page, without worker or IndexedDB, as a processing-only baseline.
import { filter, type Observable } from 'rxjs';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';

/** An emitted event: `page` is a string for objects and a small number when decoded from columns. */
export interface Ev {
  readonly page: string | number;
  readonly user: number;
  readonly ts: number;
}

export type Kind = 'count' | 'none' | 'latency' | 'open';

const ts = (e: Ev) => e.ts;

/** Builds the pipeline of each workload. */
export const PIPELINES: Record<Kind, (events$: Observable<Ev>) => Observable<unknown>> = {
  /** Throughput (sections 1 and 2): count per page in tumbling 60 s windows, 1 s of disorder allowed. */
  count: (events$) =>
    events$.pipe(
      eventTime({ timestamp: ts, maxOutOfOrderness: 1_000 }),
      windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }),
    ),
  /** Outbox append alone (section 3): the pipeline drops everything. */
  none: (events$) => events$.pipe(filter(() => false)),
  /** Speed-layer latency (section 4): in-order wall-clock events, 100 ms windows close on the first later event. */
  latency: (events$) =>
    events$.pipe(
      eventTime({ timestamp: ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count() }),
    ),
  /** Checkpoint size (section 5): one open 1 h window per user. */
  open: (events$) =>
    events$.pipe(
      eventTime({ timestamp: ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e) => e.user, window: tumbling(3_600_000), aggregate: count() }),
    ),
};

/** A columnar batch as the page emits it: each column its own typed array of `length` rows. */
export interface EvColumns {
  readonly length: number;
  readonly page: Uint8Array;
  readonly user: Int32Array;
  readonly ts: Float64Array;
}

/** Decodes row `i` of a columnar batch (`page` stays a number). */
export function row(c: EvColumns, i: number): Ev {
  return { page: c.page[i] as number, user: c.user[i] as number, ts: c.ts[i] as number };
}
