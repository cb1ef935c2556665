/**
 * Browser runtime benchmark (`npm run bench:browser`): the page side
 * (`createRuntime`) and the worker side (`serveRuntime`: IndexedDB outbox,
 * pipeline, checkpoints) in Chromium, Firefox and WebKit, each against
 * baselines measured in the same page: plain `postMessage` to a trivial
 * counting worker, raw IndexedDB puts, and the same pipeline run in the page
 * without worker or storage.
 *
 * Bundles bench/browser/page.ts and its workers with esbuild, serves them on
 * 127.0.0.1 (cross-origin isolated where the engine honours it, for finer
 * timers), drives each engine through the test adapter
 * (test/browser/engines.ts: Chromium via playwright-core, Firefox via
 * puppeteer-core over WebDriver BiDi, WebKit via WebKitWebDriver under
 * xvfb-run) with one fresh profile, prints a markdown table per engine and a
 * summary across engines, and writes bench/results/browser.md.
 *
 * Every figure is a median over rounds that alternate between the
 * contenders of a section (A B C, C B A, …) after one warm-up pass; latency
 * percentiles are taken per round, then the median over rounds. Nothing is
 * asserted on time; the run fails (exit 1) on a page error, a timeout, or a
 * round whose status shows anything but every event stored and processed
 * exactly once.
 *
 * Options, for diagnosis (the results file is then not written):
 * - `--only=1,4` runs only those sections;
 * - `ENGINES=firefox,webkit` runs only those engines (all three by default);
 * - `BENCH_WORKER='{"everyEvents":1e9}'` overrides the worker settings
 *   (`everyEvents`, `everyMs`) of every runtime.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../test/browser/chromium.js';
import { ALL_ENGINES, type Engine, type EngineName, ENGINES, type EnginePage, launchEngine } from '../../test/browser/engines.js';
import { formatRate, median } from '../harness.js';
import type { Bench, LatencySample, RuntimeSample } from './page.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 5;
const WARMUP = 1;
/** Events per round of `emit()`: 512 full batches of the runtime's default 4 096. */
const N = 2 ** 21;
/** The one-`postMessage`-per-event baseline runs ~10× slower; fewer events keep it within budget (the rate is per event). */
const PER_EVENT_N = 2 ** 17;
const POST_BATCH = 1_000;
const COLUMNS_N = 2 ** 22;
const COLUMN_ROWS = 16_384;
const LATENCY = { perMs: 10, durationMs: 5_000 };
const APPEND_LATENCY = { perMs: 100, durationMs: 2_000 };
const OPEN_WINDOWS = 100_000;
/** Records of the "many small records" IndexedDB baseline (100 000 take ~8 s here: too slow for every round). */
const MANY_RECORDS = 10_000;

declare const bench: Bench;
/** The page's ~1 ms timer, as it reports it. */
let ticker = '';
type Result<K extends keyof Bench> = Awaited<ReturnType<Bench[K]>>;

// ------------------------------------------------------------------ site

/** The page and its workers, cross-origin isolated (5 µs timers instead of 100 µs). */
const serveBench = () =>
  serve(
    {
      page: join(here, 'page.ts'),
      'runtime.worker': join(here, 'runtime.worker.ts'),
      'counter.worker': join(here, 'counter.worker.ts'),
    },
    { isolated: true },
  );

// ------------------------------------------------------------------ statistics and formatting

/** Nearest-rank percentile, `p` in [0, 1]. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** The median over rounds of each round's `p` percentile. */
const pOverRounds = (rounds: readonly (readonly number[])[], p: number) => median(rounds.map((r) => percentile(r, p)));
/** Events per second from a median duration in ms. */
const rate = (events: number, msPerRound: readonly number[]) => events / (median(msPerRound) / 1_000);
const totals = (s: readonly { total: number }[]) => s.map((x) => x.total);
const field = (s: readonly RuntimeSample[], k: keyof RuntimeSample) => s.map((x) => x[k]);
const ms = (v: number) => (v >= 10 ? `${v.toFixed(0)} ms` : v >= 1 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const ratio = (a: number, b: number) => `${(a / b).toFixed(a / b < 0.1 ? 3 : 2)}×`;
const met = (ok: boolean) => (ok ? '✓' : '✗ missed');
const count = (n: number) => n.toLocaleString('en-US');

/** What a section adds to the report. */
interface Part {
  /** Rows of the throughput table: workload, events/s, target, baseline, ratio. */
  readonly throughput: string[][];
  /** Rows of the cost and latency table: measurement, median or p50, p99, target. */
  readonly costs: string[][];
  /** How it was measured. */
  readonly notes: string[];
  /** Targets missed, for the closing summary. */
  readonly missed: string[];
}

// ------------------------------------------------------------------ sections

interface Section {
  readonly id: string;
  readonly title: string;
  readonly timeoutSeconds: number;
  run(page: EnginePage): Promise<Part>;
}

const SECTIONS: Section[] = [
  {
    id: '1',
    title: `1. emit() of ${count(N)} objects, and the outbox alone (per-event baseline: ${count(PER_EVENT_N)})`,
    timeoutSeconds: 150,
    async run(page) {
      const f: Result<'emitObjects'> = await page.evaluate((o) => bench.emitObjects(o), {
        n: N,
        perEventN: PER_EVENT_N,
        batch: POST_BATCH,
        rounds: ROUNDS,
        warmup: WARMUP,
      });
      const drain = rate(N, field(f.runtime, 'total'));
      const into = rate(N, field(f.runtime, 'into'));
      const append = rate(N, field(f.appendOnly, 'total'));
      const cloned = rate(N, field(f.structuredClone, 'total'));
      const appendInto = rate(N, field(f.appendOnly, 'into'));
      const perEvent = rate(PER_EVENT_N, totals(f.postPerEvent));
      const batches = rate(N, totals(f.postBatches));
      const idb = rate(N, totals(f.idbPut));
      const pipeline = rate(N, totals(f.pipelineOnly));
      const emitUs = (median(field(f.runtime, 'loop')) * 1_000) / N;
      const postUs = (median(f.postBatches.map((s) => s.loop)) * 1_000) / N;
      const missed: string[] = [];
      if (drain < 3e6) missed.push(`emit() → drain: ${formatRate(drain)} events/s (target ≥ 3 M)`);
      if (emitUs > 0.2) missed.push(`main thread per emit(): ${emitUs.toFixed(3)} µs (target ≤ 0.2 µs)`);
      const k = `${count(POST_BATCH)}-object batches \`postMessage\`d to a counting worker`;
      return {
        throughput: [
          ['`emit()` objects → `drain()` (durable + processed)', formatRate(drain), `≥ 3 M ${met(drain >= 3e6)}`, `one \`postMessage\` per event to a counting worker (${formatRate(perEvent)})`, ratio(drain, perEvent)],
          ['`emit()` objects → `drain()`', formatRate(drain), '', `${k} (${formatRate(batches)})`, ratio(drain, batches)],
          ['`emit()` objects → `drain()`', formatRate(drain), '', `IndexedDB put of the same events, 4,096 per record, one transaction (${formatRate(idb)})`, ratio(drain, idb)],
          ['`emit()` objects → `drain()`', formatRate(drain), '', `the same pipeline in the page, no worker or storage (${formatRate(pipeline)})`, ratio(drain, pipeline)],
          ['`emit()` objects → `drain()`', formatRate(drain), '', `the same with \`encoding: 'structured-clone'\` (${formatRate(cloned)})`, ratio(drain, cloned)],
          ['`emit()` objects → into the worker (last batch received, as a JSON string)', formatRate(into), '', `${k} (${formatRate(batches)})`, ratio(into, batches)],
          ['Outbox append alone (`filter(() => false)`) → `drain()`', formatRate(append), '', `IndexedDB put of the same events, 4,096 per record, one transaction (${formatRate(idb)})`, ratio(append, idb)],
          ['Outbox append alone → into the worker', formatRate(appendInto), '', `${k} (${formatRate(batches)})`, ratio(appendInto, batches)],
        ],
        costs: [
          ['Main thread per `emit()` (synchronous loop incl. the flushes it triggers, ÷ N)', `${emitUs.toFixed(3)} µs`, '', `≤ 0.2 µs ${met(emitUs <= 0.2)}`],
          [`Baseline: main thread per event posting ${count(POST_BATCH)}-object batches (structured clone)`, `${postUs.toFixed(3)} µs`, '', ''],
        ],
        notes: [
          `\`emit()\`: ${count(N)} prebuilt \`{ page, user, ts }\` objects (10 page strings, in order, 1 per ms of event time) emitted in one synchronous loop into a fresh runtime (new database per round; default \`batchSize\` 4 096 and checkpoints every 100 000 events or 1 s; outbox limits raised to 100 M events / 8 GiB). Rate = N ÷ (first \`emit()\` → \`drain()\` resolved). Pipeline: \`eventTime(maxOutOfOrderness: 1000)\` → \`windowBy(page, tumbling 60 s, count)\`. After each round \`status$\` must show N appended and processed, nothing dropped, refused, late or restarted, and no errors.`,
          `"Into the worker": first \`emit()\` → the worker dispatching the message that carries the last event (seen by a listener registered before comlink's; clocks compared as \`timeOrigin + now()\`). It is late when the worker thread is busy storing or processing. With the default \`encoding: 'json'\` the message is one string per batch, so receiving it is nearly free and the parsing happens afterwards, in the append: this figure then measures the page's encoding and posting, not the worker's work (the \`drain()\` rows do).`,
          `Main thread per \`emit()\`: the loop's duration ÷ N; it includes the 512 \`JSON.stringify\` + \`postMessage\` of a 4 096-event batch each that the loop triggers.`,
          `Outbox append alone: the same workload with \`filter(() => false)\` as the pipeline, in the same rounds.`,
          `Baselines, same rounds: ${count(PER_EVENT_N)} events one \`postMessage\` each, and N events as prebuilt ${count(POST_BATCH)}-object arrays, to a worker that only counts (timed to its "all received" answer); the same N events as 512 records of 4 096 put in one readwrite transaction in the page (timed to \`complete\`); the pipeline run with \`createPipeline\` in the page.`,
        ],
        missed,
      };
    },
  },
  {
    id: '2',
    title: `2. emitColumns() of ${count(COLUMNS_N)} rows in batches of ${count(COLUMN_ROWS)}`,
    timeoutSeconds: 120,
    async run(page) {
      const f: Result<'emitColumns'> = await page.evaluate((o) => bench.emitColumns(o), {
        n: COLUMNS_N,
        rows: COLUMN_ROWS,
        rounds: ROUNDS,
        warmup: WARMUP,
      });
      const drain = rate(COLUMNS_N, field(f.runtime, 'total'));
      const into = rate(COLUMNS_N, field(f.runtime, 'into'));
      const noCp = rate(COLUMNS_N, field(f.noCheckpoints, 'total'));
      const post = rate(COLUMNS_N, totals(f.postColumns));
      const idb = rate(COLUMNS_N, totals(f.idbPut));
      const pipeline = rate(COLUMNS_N, totals(f.pipelineOnly));
      const rowNs = (median(field(f.runtime, 'loop')) * 1e6) / COLUMNS_N;
      return {
        throughput: [
          ['`emitColumns()` → `drain()`', formatRate(drain), `≥ 20 M ${met(drain >= 20e6)}`, `the same columns \`postMessage\`d to a counting worker (${formatRate(post)})`, ratio(drain, post)],
          ['`emitColumns()` → `drain()`', formatRate(drain), '', `the same, automatic checkpoints off (${formatRate(noCp)})`, ratio(drain, noCp)],
          ['`emitColumns()` → `drain()`', formatRate(drain), '', `IndexedDB put of the same batches, one transaction (${formatRate(idb)})`, ratio(drain, idb)],
          ['`emitColumns()` → `drain()`', formatRate(drain), '', `the same pipeline in the page, rows decoded from the columns (${formatRate(pipeline)})`, ratio(drain, pipeline)],
          ['`emitColumns()` → into the worker', formatRate(into), '', `the same columns \`postMessage\`d to a counting worker (${formatRate(post)})`, ratio(into, post)],
        ],
        costs: [[`Main thread per row of \`emitColumns()\` (${count(COLUMN_ROWS)}-row batches)`, `${rowNs.toFixed(1)} ns`, '', '']],
        notes: [
          `\`emitColumns()\`: ${count(COLUMNS_N)} rows as \`{ length, page: Uint8Array, user: Int32Array, ts: Float64Array }\` batches of ${count(COLUMN_ROWS)} rows (each with its own buffers; cloned, not transferred), decoded by \`serveRuntime\`'s \`row\` into \`{ page: number, user, ts }\`; same pipeline and settings as \`emit()\`. "Automatic checkpoints off" sets \`checkpoint: { everyEvents: 1e9, everyMs: 1e9 }\` (\`close()\` still writes one, after the timing).`,
        ],
        missed: drain < 20e6 ? [`emitColumns() → drain: ${formatRate(drain)} events/s (target ≥ 20 M)`] : [],
      };
    },
  },
  {
    id: '3',
    title: `3. emit → durable at ${count(APPEND_LATENCY.perMs * 1_000)} events/s for ${APPEND_LATENCY.durationMs} ms, processing negligible`,
    timeoutSeconds: 90,
    async run(page) {
      const f: Result<'appendLatency'> = await page.evaluate((o) => bench.appendLatency(o), { ...APPEND_LATENCY, rounds: ROUNDS, warmup: WARMUP });
      const durable = f.paced.map((s) => s.durable);
      const raw = f.idbPaced.map((s) => s.durable);
      return {
        throughput: [],
        costs: [
          [`Emit → durable per batch, append alone (\`filter(() => false)\`), ${count(APPEND_LATENCY.perMs * 1_000)} events/s`, ms(pOverRounds(durable, 0.5)), ms(pOverRounds(durable, 0.99)), ''],
          ['Baseline: the same ticks, one IndexedDB transaction each in the page, to `complete`', ms(pOverRounds(raw, 0.5)), ms(pOverRounds(raw, 0.99)), ''],
        ],
        notes: [
          `Emit → durable: ${APPEND_LATENCY.perMs} events per ms, emitted from a ~1 ms timer (\`${ticker}\`, median period ${median(f.paced.map((s) => s.medianTickMs)).toFixed(2)} ms; a late tick emits for every ms it missed) for ${APPEND_LATENCY.durationMs / 1_000} s, default checkpoints. Per tick (one tick = one batch, flushed in a microtask): its emit → arrival in the page of the first append receipt covering its first event (comlink's answer to \`append\`, seen by a listener on the \`Worker\`). Baseline, alternating: the same ticks with each tick's events put as one record in its own readwrite transaction (default durability, as the runtime's) in the page, emit → \`complete\`.`,
        ],
        missed: [],
      };
    },
  },
  {
    id: '4',
    title: `4. speed layer at ${count(LATENCY.perMs * 1_000)} events/s for ${LATENCY.durationMs} ms`,
    timeoutSeconds: 150,
    async run(page) {
      const f: Result<'speedLatency'> = await page.evaluate((o) => bench.speedLatency(o), { ...LATENCY, rounds: ROUNDS, warmup: 0 });
      const result = f.latency.map((s: LatencySample) => s.result);
      const durable = f.latency.map((s: LatencySample) => s.durable);
      const p99 = pOverRounds(result, 0.99);
      return {
        throughput: [],
        costs: [
          [`Speed layer: emit of the closing event → result on \`results$\`, ${count(LATENCY.perMs * 1_000)} events/s`, ms(pOverRounds(result, 0.5)), ms(p99), `p99 ≤ 5 ms ${met(p99 <= 5)}`],
          ['Emit → durable per batch in the same run', ms(pOverRounds(durable, 0.5)), ms(pOverRounds(durable, 0.99)), ''],
        ],
        notes: [
          `Speed layer: ${LATENCY.perMs} events per ms with \`ts: Date.now()\` from the same ~1 ms timer (median period ${median(f.latency.map((s) => s.medianTickMs)).toFixed(2)} ms), \`eventTime(maxOutOfOrderness: 0)\` → \`windowBy(page, tumbling 100 ms, count)\`, default checkpoints (every 100 000 events or 1 s), ${LATENCY.durationMs / 1_000} s per round, no warm-up round; per result on \`results$\` (10 pages, so ~10 per window, ~${Math.round(median(f.latency.map((s) => s.results)))} per round): arrival in the page − emit of the tick holding the first event with \`ts ≥ end\`. The path: microtask flush → \`postMessage\` → group-commit transaction → pipeline → a direct message from the worker → page.`,
        ],
        missed: p99 > 5 ? [`speed layer p99: ${ms(p99)} (target ≤ 5 ms)`] : [],
      };
    },
  },
  {
    id: '5',
    title: `5. checkpoint of ${count(OPEN_WINDOWS)} open windows`,
    timeoutSeconds: 120,
    async run(page) {
      const f: Result<'checkpointOpen'> = await page.evaluate((o) => bench.checkpointOpen(o), {
        windows: OPEN_WINDOWS,
        manyRecords: MANY_RECORDS,
        rounds: ROUNDS,
        warmup: WARMUP,
      });
      const durations = f.runtime.map((s) => s.durationMs);
      const cp = median(durations);
      return {
        throughput: [],
        costs: [
          [`Checkpoint of ${count(OPEN_WINDOWS)} open windows (\`lastCheckpoint.durationMs\`)`, ms(cp), `max ${ms(Math.max(...durations))}`, `≤ 25 ms ${met(cp <= 25)}`],
          ['`checkpoint()` round trip from the page', ms(median(f.runtime.map((s) => s.roundTrip))), '', ''],
          ['Baseline: `snapshot()` of the same state in the page', ms(median(f.snapshotInPage)), '', ''],
          [`Baseline: IndexedDB put of that snapshot (${(f.snapshotBytes / 1e3).toFixed(0)} kB as JSON), one transaction`, ms(median(f.putSnapshot)), '', ''],
          [`Baseline: IndexedDB put of one columnar record (2 × \`Float64Array(${count(OPEN_WINDOWS)})\`, 1.6 MB)`, ms(median(f.putColumnar)), '', ''],
          [`Baseline: ${count(MANY_RECORDS)} separate small records in one transaction`, ms(median(f.putMany)), '', ''],
        ],
        notes: [
          `Checkpoint: ${count(OPEN_WINDOWS)} users in one tumbling 1 h window (\`eventTime(maxOutOfOrderness: 0)\` → \`windowBy(user, tumbling 1 h, count)\`; automatic checkpoints off). Each round emits one more event, drains, calls \`checkpoint()\` and reads \`status$\`'s \`lastCheckpoint.durationMs\`: snapshot + view encode + the IndexedDB transaction, timed in the worker with \`Date.now()\` (1 ms resolution). The view is empty (nothing fired). Baselines time one readwrite transaction in the page from its creation to \`complete\`, puts included; the snapshot put is the page's own snapshot of the same state, wrapped as the runtime stores it.`,
        ],
        missed: cp > 25 ? [`checkpoint of ${count(OPEN_WINDOWS)} windows: ${ms(cp)} (target ≤ 25 ms)`] : [],
      };
    },
  },
];

// ------------------------------------------------------------------ main

/** Runs `what`, failing after `seconds`. */
async function withTimeout<T>(label: string, seconds: number, what: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no answer within ${seconds} s`)), seconds * 1_000);
  });
  try {
    return await Promise.race([what(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function parseArgs() {
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const unknown = process.argv.slice(2).filter((a) => !a.startsWith('--only='));
  if (unknown.length > 0) throw new Error(`unknown arguments ${unknown.join(' ')}; usage: run.ts [--only=1,2,3,4,5]`);
  const ids = only ? only.split(',').map((s) => s.trim()) : SECTIONS.map((s) => s.id);
  for (const id of ids) if (!SECTIONS.some((s) => s.id === id)) throw new Error(`--only: no section ${id}`);
  let worker: Record<string, number> = {};
  if (process.env.BENCH_WORKER) {
    worker = JSON.parse(process.env.BENCH_WORKER) as Record<string, number>;
    for (const [k, v] of Object.entries(worker))
      if (!['everyEvents', 'everyMs'].includes(k) || typeof v !== 'number') throw new Error(`BENCH_WORKER: unsupported ${k}=${v}`);
  }
  return { ids, worker, complete: ids.length === SECTIONS.length && Object.keys(worker).length === 0 };
}

/** Headline figures of one engine, for the summary across engines. */
interface Headline {
  readonly engine: string;
  readonly parts: readonly Part[];
}

/** Runs the sections in one engine; answers its report and headline rows. */
async function runEngine(name: EngineName, site: { url: string }, args: ReturnType<typeof parseArgs>, machine: string) {
  let engine: Engine;
  try {
    engine = await launchEngine(name);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
  try {
    const page = await engine.newPage(site.url);
    await page.waitFor(() => 'bench' in globalThis, 15_000);
    const info = await page.evaluate(() => bench.info());
    ticker = info.ticker;
    await page.evaluate((worker) => bench.configure({ worker }), args.worker);
    const isolation = info.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (coarser timers)';
    console.log(`\n# ${engine.version}; page ${isolation}; ${machine}`);
    const parts: Part[] = [];
    for (const section of SECTIONS.filter((s) => args.ids.includes(s.id))) {
      const started = performance.now();
      console.log(`\n== ${engine.name}: ${section.title}`);
      parts.push(await withTimeout(`${engine.name}: ${section.title}`, section.timeoutSeconds, () => section.run(page)));
      const errors = await page.errors();
      if (errors.length > 0) throw new Error(`${engine.name}: the page reported errors:\n  ${errors.join('\n  ')}`);
      console.log(`   (${((performance.now() - started) / 1_000).toFixed(1)} s)`);
    }
    await page.close();
    return { report: markdown(parts, `${engine.version}, page ${isolation}`, machine, args.worker), headline: { engine: engine.version, parts } };
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<number> {
  const args = parseArgs();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}`;
  const began = performance.now();
  const site = await serveBench();
  try {
    console.log(`engines ${ENGINES.join(', ')}; sections ${args.ids.join(', ')}; ${ROUNDS} alternating rounds after ${WARMUP} warm-up; N = ${count(N)} objects, ${count(COLUMNS_N)} column rows`);
    if (Object.keys(args.worker).length > 0) console.log(`worker settings overridden: ${JSON.stringify(args.worker)}`);
    const reports: string[] = [];
    const headlines: Headline[] = [];
    for (const name of ENGINES) {
      const { report, headline } = await runEngine(name, site, args, machine);
      console.log(`\n${report}`);
      reports.push(report);
      headlines.push(headline);
      const missed = headline.parts.flatMap((p) => p.missed);
      if (missed.length > 0) console.log(`${name}: targets missed (not a failure):\n  ${missed.join('\n  ')}\n`);
    }
    const all = ['# Browser runtime benchmark', '', ...summary(headlines), ...reports].join('\n');
    if (args.complete && ENGINES.length === ALL_ENGINES.length) {
      mkdirSync(join(here, '../results'), { recursive: true });
      writeFileSync(join(here, '../results/browser.md'), all);
      console.log(`\n${summary(headlines).join('\n')}\nwrote bench/results/browser.md`);
    } else console.log(`\n${summary(headlines).join('\n')}\npartial or overridden run: bench/results/browser.md not written`);
    console.log(`${((performance.now() - began) / 1_000).toFixed(0)} s in all`);
    return 0;
  } finally {
    await site.close();
  }
}

/** One table across engines: each row of the per-engine tables, first column the workload, one column per engine. */
function summary(headlines: readonly Headline[]): string[] {
  if (headlines.length === 0) return [];
  const rows = new Map<string, string[]>();
  headlines.forEach((h, i) => {
    const add = (label: string, value: string) => {
      const row = rows.get(label) ?? Array.from({ length: headlines.length }, () => '—');
      row[i] = value;
      rows.set(label, row);
    };
    for (const p of h.parts) {
      // Throughput rows repeat the workload once per baseline: its own figure once.
      for (const r of p.throughput) add(`${r[0]} (events/s)`, r[1] as string);
      for (const r of p.costs) add(r[0] as string, !r[2] ? (r[1] as string) : r[2].startsWith('max') ? `${r[1]} (${r[2]})` : `${r[1]} (p99 ${r[2]})`);
    }
  });
  return [
    '## Per engine',
    '',
    `| Workload | ${headlines.map((h) => h.engine).join(' | ')} |`,
    `| --- | ${headlines.map(() => '---:').join(' | ')} |`,
    ...[...rows].map(([label, values]) => `| ${label} | ${values.join(' | ')} |`),
    '',
  ];
}

function markdown(parts: readonly Part[], version: string, machine: string, worker: Record<string, number>): string {
  const table = (header: string[], align: string[], rows: string[][]) =>
    rows.length === 0 ? [] : [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`), ''];
  return [
    `## ${version}`,
    '',
    ...table(
      ['Workload', 'Events/s (median)', 'Target', 'Baseline (events/s)', 'Ratio'],
      ['---', '---:', '---', '---', '---:'],
      parts.flatMap((p) => p.throughput),
    ),
    ...table(['Cost or latency', 'Median (p50)', 'p99', 'Target'], ['---', '---:', '---:', '---'], parts.flatMap((p) => p.costs)),
    `${version}; one fresh profile; ${machine}; medians of ${ROUNDS} rounds alternating between a section's contenders, after ${WARMUP} warm-up round (none in the speed-layer section); latency percentiles per round, then the median over rounds; ratio = events/s ÷ baseline events/s, both measured in the same page.${Object.keys(worker).length > 0 ? ` Worker settings overridden: \`${JSON.stringify(worker)}\`.` : ''}`,
    '',
    'How each figure is measured:',
    ...parts.flatMap((p) => p.notes.map((n) => `- ${n}`)),
    '',
  ].join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`\nbench:browser failed: ${(err as Error)?.stack ?? err}`);
    process.exitCode = 1;
  },
);
