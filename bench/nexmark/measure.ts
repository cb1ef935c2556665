/**
 * The Nexmark throughput measurement, shared by Node and the browser worker
 * (it uses nothing but `performance.now()` and, when exposed, `gc()`).
 *
 * Events are generated ahead, untimed, into arrays of `batch` events (the
 * per-event runs read the same objects from one flat array). Each query is
 * then run over all of them, per event (`from(events)` → `eventTime`) and in
 * arrays (`from(batches)` → `eventTimeBatches`); every (query, mode) is a
 * contender of `alternate`, so every figure is the median of `rounds`
 * alternating rounds. Throughput counts input events (people, auctions and
 * bids), as Nexmark figures do.
 *
 * @module
 */
import { from } from 'rxjs';
import { eventTime, eventTimeBatches } from '../../src/index.js';
import { alternate, type Contender, eventsPerSecond } from '../harness.js';
import { type NexmarkEvent, NexmarkGenerator } from './generator.js';
import { QUERIES, timestamp } from './queries.js';

export interface MeasureOptions {
  readonly events: number;
  readonly rounds: number;
  /** Events per array for `eventTimeBatches`. */
  readonly batch: number;
  readonly perEvent: boolean;
  readonly seed: number;
  readonly eventsPerSecond: number;
  readonly maxOutOfOrderness: number;
  /** Only these queries (names); all when empty. */
  readonly only: readonly string[];
}

export interface QueryFigures {
  readonly name: string;
  /** Median events/s, in arrays of `batch`. */
  readonly arrays: number;
  /** Median events/s, one event per `next()`; absent when not measured. */
  readonly perEvent?: number;
  /** Result rows of one run. */
  readonly rows: number;
}

export interface Measurement {
  readonly options: MeasureOptions;
  readonly generateSeconds: number;
  readonly queries: readonly QueryFigures[];
}

export function measure(options: MeasureOptions, log: (line: string) => void = () => {}): Measurement {
  const { events: total, batch, rounds, maxOutOfOrderness } = options;
  const generator = new NexmarkGenerator({ seed: options.seed, eventsPerSecond: options.eventsPerSecond, maxOutOfOrderness });
  const started = performance.now();
  const batches: NexmarkEvent[][] = [];
  for (let from = 0; from < total; from += batch) batches.push(generator.events(from, Math.min(batch, total - from)));
  const flat: NexmarkEvent[] = options.perEvent ? batches.flat() : [];
  const generateSeconds = (performance.now() - started) / 1_000;
  log(`generated ${total.toLocaleString('en-US')} events in ${generateSeconds.toFixed(1)} s`);

  const queries = QUERIES.filter((q) => options.only.length === 0 || options.only.includes(q.name));
  const rows = new Map<string, number>();
  const contenders: Contender[] = [];
  for (const q of queries) {
    contenders.push({
      name: `${q.name} arrays`,
      run() {
        let n = 0;
        q.query(from(batches).pipe(eventTimeBatches({ timestamp, maxOutOfOrderness }))).subscribe(() => n++);
        rows.set(`${q.name} arrays`, n);
      },
    });
    if (options.perEvent)
      contenders.push({
        name: `${q.name} per event`,
        run() {
          let n = 0;
          q.query(from(flat).pipe(eventTime({ timestamp, maxOutOfOrderness }))).subscribe(() => n++);
          rows.set(`${q.name} per event`, n);
        },
      });
  }
  const samples = alternate(contenders, rounds, 1);
  const figures: QueryFigures[] = queries.map((q) => {
    const n = rows.get(`${q.name} arrays`) as number;
    if (options.perEvent && rows.get(`${q.name} per event`) !== n)
      throw new Error(`${q.name}: ${n} rows in arrays but ${rows.get(`${q.name} per event`)} per event`);
    const f: QueryFigures = {
      name: q.name,
      arrays: eventsPerSecond(samples, `${q.name} arrays`, total),
      rows: n,
      ...(options.perEvent ? { perEvent: eventsPerSecond(samples, `${q.name} per event`, total) } : {}),
    };
    log(`${q.name}: ${(f.arrays / 1e6).toFixed(1)} M ev/s in arrays${f.perEvent ? `, ${(f.perEvent / 1e6).toFixed(1)} M per event` : ''} (${n} rows)`);
    return f;
  });
  return { options, generateSeconds, queries: figures };
}
