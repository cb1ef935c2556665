/**
 * Core benchmark (`npm run bench`): throughput of `eventTime → windowBy →
 * records` against hand-written loops of the same semantics and a naive RxJS
 * pipeline, and heap bytes per open (key, window).
 *
 * Every figure is a median over alternating rounds, and every ratio divides
 * two medians measured in this process, so the ratios carry over between
 * machines much better than the absolute rates. Nothing is asserted on
 * time; the only failure is two contenders disagreeing on the results.
 *
 * Run with `--expose-gc` (the npm script does) so that each comparison
 * starts from a collected heap and so that the memory section can run at all.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { from, type Observable, Subject, type Subscription } from 'rxjs';
import {
  count,
  createPipeline,
  eventTime,
  eventTimeBatches,
  eventTimeColumns,
  records,
  session,
  type Timed,
  sliding,
  tumbling,
  type WindowAssigner,
  type WindowKey,
  type WindowResult,
  windowBy,
} from '../src/index.js';
import { seededRandom, shuffleWithin } from '../src/testing/index.js';
import { type BenchEvent, handSessions, handSliding, handTumbling, naiveRxjs, Tally } from './baselines.js';
import { joinThroughput } from './joins.bench.js';
import {
  alternate,
  type Contender,
  collectGarbage,
  eventsPerSecond,
  formatRate,
  formatRatio,
  median,
  retainedBytes,
  type Samples,
} from './harness.js';

const EVENTS = 2_000_000;
const KEYS = 10_000;
const DISORDER = 2_000;
const SIZE = 60_000;
const SLIDE = 10_000;
const GAP = 5_000;
const BATCH = 1_000;
/** Early pane period (records per key and window) of the changelog comparison's early workload. */
const EARLY = 10;
const ROUNDS = 7;
/** The naive pipeline is ~10× slower; fewer rounds keep the whole run within budget. */
const NAIVE_ROUNDS = 3;
const OPEN_WINDOWS = 1_000_000;
/** 2024-01-01T00:00:00Z: realistic epoch-millisecond timestamps, aligned to the minute. */
const T0 = 1_704_067_200_000;

/**
 * `EVENTS` events over `KEYS` integer keys, 0 to 2 ms apart (1 per ms on
 * average, ~33 minutes of event time), then shuffled so that none arrives
 * more than `DISORDER` ms after a newer one: the most `eventTime` tolerates,
 * so no record is late.
 *
 * The shuffled events are copied so that they lie in memory in arrival
 * order, as events parsed from a socket or a log would. Left in generation
 * order, and then moved about by the GC, reading them costs cache misses
 * that slow every contender alike by up to 3× and hide their differences.
 */
function makeEvents(): BenchEvent[] {
  const random = seededRandom(20_240_101);
  const ordered: BenchEvent[] = [];
  let ts = T0;
  for (let i = 0; i < EVENTS; i++) {
    ordered.push({ key: Math.floor(random() * KEYS), ts });
    ts += Math.floor(random() * 3);
  }
  return shuffleWithin(ordered, (e) => e.ts, DISORDER, random).map((e) => ({ key: e.key, ts: e.ts }));
}

const timestamp = (e: BenchEvent) => e.ts;
const key = (e: BenchEvent) => e.key;

/** The measured pipeline after its entry operator: count per key and window, results into `out`. */
function countInto(timed$: Observable<Timed<BenchEvent>>, window: WindowAssigner, out: Tally): void {
  timed$
    .pipe(windowBy({ key, window, aggregate: count(), late: () => out.late++ }), records())
    .subscribe((r) => out.add(r));
}

function tidemark(events: readonly BenchEvent[], window: WindowAssigner, out: Tally): void {
  countInto(from(events).pipe(eventTime({ timestamp, maxOutOfOrderness: DISORDER })), window, out);
}

function tidemarkBatches(batches: readonly (readonly BenchEvent[])[], window: WindowAssigner, out: Tally): void {
  countInto(from(batches).pipe(eventTimeBatches({ timestamp, maxOutOfOrderness: DISORDER })), window, out);
}

/** A columnar batch: what a worker receives as transferable buffers, or a reader decodes from a file. */
interface Columns {
  readonly length: number;
  readonly key: Int32Array;
  readonly ts: Float64Array;
}

function toColumns(events: readonly BenchEvent[]): Columns[] {
  const out: Columns[] = [];
  for (let i = 0; i < events.length; i += BATCH) {
    const rows = events.slice(i, i + BATCH);
    out.push({ length: rows.length, key: Int32Array.from(rows, key), ts: Float64Array.from(rows, timestamp) });
  }
  return out;
}

const row = (b: Columns, i: number): BenchEvent => ({ key: b.key[i] as number, ts: b.ts[i] as number });

function tidemarkColumns(batches: readonly Columns[], window: WindowAssigner, out: Tally): void {
  countInto(from(batches).pipe(eventTimeColumns({ row, timestamp, maxOutOfOrderness: DISORDER })), window, out);
}

/** A contender whose results can be checked against another's. */
interface Checked extends Contender {
  /** Runs once more and returns what came out. */
  check(): Tally;
}

/** A contender that writes into a fresh tally on every run. */
function contender(name: string, run: (out: Tally) => void, after?: () => void): Checked {
  return {
    name,
    run: () => run(new Tally()),
    after,
    check() {
      const out = new Tally();
      run(out);
      return out;
    },
  };
}

/**
 * Runs every contender once and compares its results with the first one's;
 * a disagreement makes every figure meaningless, so it ends the process.
 */
function verify(label: string, contenders: readonly Checked[]): void {
  const [reference, ...others] = contenders.map((c) => ({ name: c.name, tally: c.check() }));
  if (reference === undefined) return;
  for (const o of others)
    if (!o.tally.agrees(reference.tally)) {
      console.error(`${label}: ${o.name} (${o.tally}) disagrees with ${reference.name} (${reference.tally})`);
      process.exit(1);
    }
  console.log(`${label}: ${contenders.map((c) => c.name).join(', ')} agree (${reference.tally})`);
}

interface Row {
  readonly workload: string;
  readonly rate: number;
  readonly baseline: string;
  readonly baselineRate: number;
}

/**
 * Verifies, then times `contenders` in alternating rounds; returns each
 * one's median events/s. The verification run doubles as a first warm-up;
 * `warmup` more runs let the JIT settle before timing.
 */
function compare(
  label: string,
  contenders: readonly Checked[],
  rounds: number,
  events: number,
  warmup = 1,
): (name: string) => number {
  verify(label, contenders);
  const samples: Samples = alternate(contenders, rounds, warmup);
  for (const [name, s] of samples)
    console.log(
      `  ${name}: median ${(median(s) * 1_000).toFixed(0)} ms = ${formatRate(events / median(s))} events/s ` +
        `(runs: ${s.map((t) => (t * 1_000).toFixed(0)).join(', ')} ms)`,
    );
  return (name) => eventsPerSecond(samples, name, events);
}

function throughput(events: readonly BenchEvent[]): Row[] {
  const batches: BenchEvent[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
  const columns = toColumns(events);
  const window = tumbling(SIZE);

  // The per-event, batch and hand-loop runs alternate in one set of rounds:
  // batch is compared with per-event, and per-event with the hand loop.
  const tumblingRate = compare(
    'tumbling 60 s',
    [
      contender('hand loop', (out) => handTumbling(events, SIZE, DISORDER, out)),
      contender('tidemark', (out) => tidemark(events, window, out)),
      contender('tidemark batches', (out) => tidemarkBatches(batches, window, out)),
      contender('tidemark columns', (out) => tidemarkColumns(columns, window, out)),
    ],
    ROUNDS,
    events.length,
  );
  const naiveRate = compare(
    'naive RxJS',
    [
      contender('hand loop', (out) => handTumbling(events, SIZE, DISORDER, out)),
      // Its ~340,000 groups die at once when it completes.
      contender('naive', (out) => naiveRxjs(events, SIZE, out), collectGarbage),
    ],
    NAIVE_ROUNDS,
    events.length,
    0, // ~10 s a run: the verification run is warm-up enough
  );
  const slidingRate = compare(
    'sliding 60 s / 10 s',
    [
      contender('hand loop', (out) => handSliding(events, SIZE, SLIDE, DISORDER, out)),
      contender('tidemark', (out) => tidemark(events, sliding(SIZE, SLIDE), out)),
    ],
    ROUNDS,
    events.length,
  );
  const sessionRate = compare(
    'session 5 s',
    [
      contender('hand loop', (out) => handSessions(events, GAP, DISORDER, out)),
      contender('tidemark', (out) => tidemark(events, session(GAP), out)),
    ],
    ROUNDS,
    events.length,
  );

  const perEvent = tumblingRate('tidemark');
  return [
    {
      workload: 'Tumbling 60 s count, per event (`eventTime`)',
      rate: perEvent,
      baseline: 'hand loop',
      baselineRate: tumblingRate('hand loop'),
    },
    {
      workload: `Tumbling 60 s count, batches of ${BATCH.toLocaleString('en-US')} (\`eventTimeBatches\`)`,
      rate: tumblingRate('tidemark batches'),
      baseline: 'Tidemark per event',
      baselineRate: perEvent,
    },
    {
      workload: `Tumbling 60 s count, batches of ${BATCH.toLocaleString('en-US')} (\`eventTimeBatches\`)`,
      rate: tumblingRate('tidemark batches'),
      baseline: 'hand loop',
      baselineRate: tumblingRate('hand loop'),
    },
    {
      workload: `Tumbling 60 s count, columnar batches of ${BATCH.toLocaleString('en-US')} (\`eventTimeColumns\`)`,
      rate: tumblingRate('tidemark columns'),
      baseline: 'Tidemark per event',
      baselineRate: perEvent,
    },
    {
      workload: 'Naive RxJS: `groupBy` key → `groupBy` window → `count`',
      rate: naiveRate('naive'),
      baseline: 'hand loop',
      baselineRate: naiveRate('hand loop'),
    },
    {
      workload: 'Sliding 60 s / 10 s count',
      rate: slidingRate('tidemark'),
      baseline: 'hand loop (sliding)',
      baselineRate: slidingRate('hand loop'),
    },
    {
      workload: 'Session (gap 5 s) count',
      rate: sessionRate('tidemark'),
      baseline: 'hand loop (sessions)',
      baselineRate: sessionRate('hand loop'),
    },
  ];
}

/**
 * Folds a changelog into a tally: a retraction (`update-before`, `delete`)
 * takes its row back, so the net tally is that of each window's last row.
 */
function tallyChange(out: Tally, r: WindowResult<WindowKey, number> & { readonly kind?: string }): void {
  if (r.kind === 'update-before' || r.kind === 'delete') {
    out.results--;
    out.total -= r.value;
    out.spans -= r.end - r.start;
  } else out.add(r);
}

/**
 * The per-event pipeline in accumulating or changelog mode. With early
 * panes, the accumulating run tallies its on-time panes, the changelog run
 * its net rows: both are then each window's final count, so they agree.
 */
function modeRun(events: readonly BenchEvent[], window: WindowAssigner, out: Tally, changelog: boolean, early?: number): void {
  const early$ = early === undefined ? {} : { early: { count: early } };
  from(events)
    .pipe(
      eventTime({ timestamp, maxOutOfOrderness: DISORDER }),
      windowBy({ key, window, aggregate: count(), late: () => out.late++, changelog, ...early$ }),
      records(),
    )
    .subscribe(
      changelog ? (r) => tallyChange(out, r) : early === undefined ? (r) => out.add(r) : (r) => r.timing === 'on-time' && out.add(r),
    );
}

/** Changelog mode against accumulating mode on the same workloads, each pair timed in alternating rounds. */
function changelogThroughput(events: readonly BenchEvent[]): Row[] {
  const workloads: { name: string; window: WindowAssigner; early?: number }[] = [
    { name: 'Tumbling 60 s count', window: tumbling(SIZE) },
    { name: 'Session (gap 5 s) count', window: session(GAP) },
    { name: `Tumbling 60 s count, early pane every ${EARLY} records per key`, window: tumbling(SIZE), early: EARLY },
    { name: 'Session (gap 5 s) count, early pane every 2 records per key', window: session(GAP), early: 2 },
  ];
  return workloads.map(({ name, window, early }) => {
    const rate = compare(
      `changelog: ${name}`,
      [
        contender('accumulating', (out) => modeRun(events, window, out, false, early)),
        contender('changelog', (out) => modeRun(events, window, out, true, early)),
      ],
      ROUNDS,
      events.length,
    );
    return { workload: `${name}, \`changelog: true\``, rate: rate('changelog'), baseline: 'accumulating mode', baselineRate: rate('accumulating') };
  });
}

interface MemoryRow {
  readonly state: string;
  readonly bytes: number | undefined;
  readonly issue?: string;
}

/**
 * A Tidemark pipeline holding `OPEN_WINDOWS` distinct keys in one tumbling
 * window: every event has the same timestamp, so the watermark stays just
 * below it and nothing fires. Events are made on the fly and not kept, so
 * the heap grows only by what the pipeline retains (for string keys, that
 * includes the key strings).
 */
function openTidemarkWindows(keyOf: (i: number) => WindowKey): Subscription {
  const input = new Subject<{ key: WindowKey; ts: number }>();
  let fired = 0;
  const subscription = input
    .pipe(
      eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e) => e.key, window: tumbling(SIZE), aggregate: count() }),
      records(),
    )
    .subscribe(() => fired++);
  for (let i = 0; i < OPEN_WINDOWS; i++) input.next({ key: keyOf(i), ts: T0 + 1 });
  if (fired !== 0) throw new Error(`expected every window to stay open, but ${fired} fired`);
  return subscription;
}

/** The naive per-(key, window) state: one counter per entry of one Map. */
function openMapWindows<K>(keyOf: (i: number) => K): Map<K, number> {
  const counts = new Map<K, number>();
  for (let i = 0; i < OPEN_WINDOWS; i++) {
    const k = keyOf(i);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

function memory(): MemoryRow[] {
  const perWindow = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / OPEN_WINDOWS);
  const tidemarkBytes = (keyOf: (i: number) => WindowKey) =>
    perWindow(
      retainedBytes(
        () => openTidemarkWindows(keyOf),
        (s) => s.unsubscribe(),
      ),
    );
  const mapBytes = <K>(keyOf: (i: number) => K) =>
    perWindow(
      retainedBytes(
        () => openMapWindows(keyOf),
        (m) => m.clear(),
      ),
    );
  // Windows all share one start here, so the composite key's start part is
  // a constant, as it is for the keys of any one window.
  const start = T0;
  return [
    { state: 'Tidemark, number keys `0..999999`', bytes: tidemarkBytes((i) => i) },
    { state: 'Tidemark, string keys `u0..u999999`', bytes: tidemarkBytes((i) => `u${i}`) },
    { state: 'Reference: `Map<number, number>`, small-integer keys', bytes: mapBytes((i) => i), issue: '~85 B' },
    {
      state: 'Reference: `Map<string, number>`, keys `` `${key}:${start}` ``',
      bytes: mapBytes((i) => `${i}:${start}`),
      issue: '~141 B',
    },
    { state: 'Reference: `Map<string, number>`, keys `u0..u999999`', bytes: mapBytes((i) => `u${i}`) },
  ];
}

interface CheckpointRow {
  readonly what: string;
  readonly ms: number;
}

const CHECKPOINT_WINDOWS = 100_000;

/**
 * What a host pays to checkpoint: `snapshot()` of a pipeline holding
 * 100,000 open (key, window) pairs, the snapshot's JSON size, and a restore
 * into a new run. Medians of `ROUNDS` runs each.
 */
function checkpoint(): { rows: CheckpointRow[]; jsonBytes: number } {
  type Ev = { key: number; ts: number };
  const pipeline = createPipeline((events$: Observable<Ev>) =>
    events$.pipe(
      eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }),
      windowBy({ key: (e) => e.key, window: tumbling(SIZE), aggregate: count() }),
      records(),
    ),
  );
  const run = pipeline.open(() => {});
  for (let i = 0; i < CHECKPOINT_WINDOWS; i++) run.push({ key: i, ts: T0 + 1 });
  const snapshots: number[] = [];
  const restores: number[] = [];
  let snap = run.snapshot();
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    snap = run.snapshot();
    snapshots.push(performance.now() - t);
    t = performance.now();
    pipeline.open(() => {}, { restore: snap }).unsubscribe();
    restores.push(performance.now() - t);
  }
  run.unsubscribe();
  return {
    rows: [
      { what: 'snapshot()', ms: median(snapshots) },
      { what: 'restore into a new run', ms: median(restores) },
    ],
    jsonBytes: JSON.stringify(snap).length,
  };
}

function markdown(rows: readonly Row[], memoryRows: readonly MemoryRow[]): string {
  const lines = [
    '| Workload | Events/s (median) | Baseline (events/s) | Ratio |',
    '| --- | ---: | --- | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.workload} | ${formatRate(r.rate)} | ${r.baseline} (${formatRate(r.baselineRate)}) | ` +
        `${formatRatio(r.rate / r.baselineRate)} |`,
    ),
    '',
    `| Open (key, window) state, ${OPEN_WINDOWS.toLocaleString('en-US')} windows | Heap bytes per window | Issue's figure |`,
    '| --- | ---: | ---: |',
    ...memoryRows.map(
      (m) => `| ${m.state} | ${m.bytes === undefined ? 'n/a (run with --expose-gc)' : m.bytes.toFixed(0)} | ${m.issue ?? ''} |`,
    ),
  ];
  return lines.join('\n');
}

function context(): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; ` +
    `${n(EVENTS)} events over ${n(KEYS)} integer keys, 1 per ms on average, ` +
    `disorder up to ${n(DISORDER)} ms (\`maxOutOfOrderness: ${DISORDER}\`); ` +
    `medians of ${ROUNDS} alternating rounds (${NAIVE_ROUNDS} for naive RxJS); ` +
    'ratio = events/s ÷ baseline events/s, both measured in the same process.'
  );
}

const NOTES = `Notes:
- Hand loops: plain \`for\` loops over the same array with the same semantics (watermark \`max(wm, maxTs - ${DISORDER} - 1)\` after each event, \`Map<windowStart, Map<key, count>>\`, due windows fire in end order, late events counted; sessions merge touching sessions and fire from a binary heap). Before timing, each comparison checks that all contenders produce the same number of results, total count, total window length and number of late events.
- Naive RxJS: \`groupBy(key)\` then \`groupBy(windowStart)\` then \`count()\`. With no watermark nothing closes a group, so all ~340,000 (key, window) groups stay open and every result comes out at completion; the counts equal the event-time ones only because no event is late. (A \`bufferTime\` pipeline cuts by processing time and cannot produce event-time counts.)
- Changelog: the same per-event pipeline with \`changelog: true\` against accumulating mode (the default), in alternating rounds. Without early panes every window fires once (an \`insert\`); with them each later pane is an \`update-before\` and an \`update-after\`, and a session that grows after an early pane gets a \`delete\`. Verified by folding the changelog (a retraction takes its row back) and comparing with the accumulating run's on-time panes.
- Sliding and session windows use the same events; each key recurs every ~10 s on average, so with a 5 s gap ~1.2 M sessions open and close.
- Memory: ${OPEN_WINDOWS.toLocaleString('en-US')} distinct keys in one tumbling window the watermark never reaches; \`heapUsed\` after minus before, between forced full GCs. Events are generated on the fly, so string keys are counted with their strings. A \`Map\` of 1 M entries is ~95% full (its capacity doubles at 2^20); just past a doubling it costs up to twice as much per entry.`;

function main(): void {
  const started = performance.now();
  if (typeof globalThis.gc !== 'function')
    console.warn('warning: no --expose-gc: comparisons do not start from a collected heap, and memory is not measured');
  const events = makeEvents();
  console.log(
    `${EVENTS.toLocaleString('en-US')} events, ${KEYS.toLocaleString('en-US')} integer keys, ` +
      `disorder up to ${DISORDER} ms; median of ${ROUNDS} alternating rounds (${NAIVE_ROUNDS} for naive RxJS)`,
  );
  if (process.env['BENCH_ONLY'] === 'changelog') {
    // A quick run of the changelog comparison alone (it is part of the full run too).
    const table = markdown(changelogThroughput(events), []).split('\n\n')[0];
    console.log(`\n${table}\n\n${context()}`);
    return;
  }
  const rows = [...throughput(events), ...changelogThroughput(events)];
  collectGarbage();
  rows.push(...joinThroughput(ROUNDS));
  const memoryRows = memory();
  const cp = checkpoint();
  const checkpointTable = [
    `| Checkpoint, ${CHECKPOINT_WINDOWS.toLocaleString('en-US')} open (key, window) pairs | Median |`,
    '| --- | ---: |',
    ...cp.rows.map((r) => `| ${r.what} | ${r.ms.toFixed(1)} ms |`),
    `| snapshot as JSON | ${(cp.jsonBytes / 1_000).toFixed(0)} kB |`,
  ].join('\n');
  const report = `${markdown(rows, memoryRows)}\n\n${checkpointTable}\n\n${context()}\n\n${NOTES}`;
  console.log(`\n${report}`);
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('core.md', dir), `# Core benchmark\n\n${report}\n`);
  console.log(`\nwritten to bench/results/core.md in ${((performance.now() - started) / 1_000).toFixed(0)} s`);
}

main();
