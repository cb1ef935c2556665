/**
 * Reconcile benchmark: events/s of `reconcile` (per-client batch views,
 * the global view, corrections against uploaded speed results) over a log
 * of click events, beside DuckDB computing the same aggregation from the
 * same events exported as NDJSON.
 *
 * `node --expose-gc --max-old-space-size=8192 --import tsx bench/server/reconcile.bench.ts`
 * Options: `--events N` (default 10 000 000), `--clients N` (1 000),
 * `--rounds N` (3), `--max-events N` (reconcile's `maxEventsInMemory`,
 * default the library's 2 000 000; the whole-log run is always measured too),
 * `--dir PATH` (where the NDJSON goes; default a temporary directory, removed),
 * `--no-duckdb` (reconcile only).
 *
 * Workload: each client emits `events / clients` clicks `{ page, user, ts }`
 * over one hour (50 pages), arriving shuffled within 2 s (the pipeline's
 * bound), and 1 % of them 1–10 minutes late. The pipeline is a tumbling 1-minute count per page with
 * `maxOutOfOrderness: 2000`, so the clients' own (speed) results miss the
 * late events and reconcile has corrections to write. Each timed reconcile
 * run writes into a fresh `memoryCorrections()`, so every run does the same
 * work.
 *
 * DuckDB (`@duckdb/node-api`, with all cores and with one: reconcile uses one) runs
 * `read_ndjson_auto` + `time_bucket` GROUP BY client, page into a table, and
 * the global GROUP BY page from it; its time includes reading and parsing
 * the NDJSON. Before timing, the bench checks that both give the same number
 * of per-client windows, the same global view, and counts summing to the
 * number of events.
 *
 * Output: the median time and events/s of each, reconcile's ratio to DuckDB
 * with all cores (the headline) and with one, and the peak RSS of each
 * engine's runs (sampled from a worker thread every 10 ms; the process holds
 * the log throughout, and DuckDB runs in it too).
 *
 * @module
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { count, createPipeline, eventTime, tumbling, windowBy } from '../../src/index.js';
import type { WireResult } from '../../src/protocol/wire.js';
import {
  type EventLog,
  memoryCorrections,
  memoryLog,
  memoryResults,
  type ReconcileReport,
  reconcile,
  type ResultStore,
} from '../../src/server/index.js';
import { seededRandom } from '../../src/testing/index.js';
import { collectGarbage, formatRate, formatRatio, median, rssSampler } from '../harness.js';

/**
 * The log under test: one function, so that the durable file log can be
 * measured the same way (`return fileLog(join(dir, 'log'))`).
 */
async function makeLog(_dir: string): Promise<EventLog> {
  return memoryLog();
}

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? (args[i + 1] as string) : fallback;
};
const EVENTS = Number(value('events', '10000000'));
const CLIENTS = Number(value('clients', '1000'));
const ROUNDS = Number(value('rounds', '3'));
const MAX_EVENTS = args.includes('--max-events') ? Number(value('max-events', '2000000')) : undefined;
const DUCKDB = !args.includes('--no-duckdb');
const PAGES = 50;
const HOUR = 3_600_000;
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

interface Click {
  readonly page: string;
  readonly user: number;
  readonly ts: number;
}

const pipeline = (events$: Observable<Click>) =>
  events$.pipe(
    eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: 2_000 }),
    windowBy({ key: (e: Click) => e.page, window: tumbling(60_000), aggregate: count() }),
  );

/** One client's clicks in arrival order. */
function clientEvents(client: number, n: number): Click[] {
  const rand = seededRandom(client + 1);
  const start = T0 + Math.floor(rand() * HOUR);
  const step = HOUR / n;
  const events = Array.from({ length: n }, (_, i) => {
    const ts = Math.floor(start + i * step);
    const late = rand() < 0.01 ? 60_000 + rand() * 540_000 : 0;
    return { e: { page: `/p${Math.floor(rand() * PAGES)}`, user: client * 10 + Math.floor(rand() * 10), ts }, at: ts + rand() * 2_000 + late };
  });
  return events.sort((a, b) => a.at - b.at).map((x) => x.e);
}

/** The client's own (speed) view: the latest pane of each window over its events in arrival order. */
function speedView(events: readonly Click[]): WireResult[] {
  const latest = new Map<string, WireResult>();
  const run = createPipeline(pipeline).open((out) => {
    if (out.kind !== 'record') return;
    const r = out.value;
    latest.set(`${r.key}:${r.start}`, { key: r.key, start: r.start, end: r.end, value: r.value, pane: r.pane });
  });
  run.pushAll(events);
  run.end();
  return [...latest.values()];
}

async function build(dir: string): Promise<{ log: EventLog; results: ResultStore; late: number }> {
  const log = await makeLog(dir);
  const results = memoryResults();
  const perClient = Math.floor(EVENTS / CLIENTS);
  let late = 0;
  for (let c = 0; c < CLIENTS; c++) {
    const n = perClient + (c < EVENTS - perClient * CLIENTS ? 1 : 0);
    const events = clientEvents(c, n);
    let maxTs = -Infinity;
    for (const e of events) {
      if (e.ts < maxTs - 2_000) late++;
      maxTs = Math.max(maxTs, e.ts);
    }
    const clientId = `client-${c}`;
    for (let i = 0; i < events.length; i += 10_000)
      await log.append(
        clientId,
        events.slice(i, i + 10_000).map((data, j) => ({ seq: i + j + 1, ts: data.ts, data })),
        T0 + HOUR,
      );
    // The clients ran to the end of their streams: every window is final for them.
    await results.put(clientId, speedView(events), T0 + HOUR, Number.MAX_SAFE_INTEGER);
  }
  return { log, results, late };
}

/** Writes the log as NDJSON, one `LoggedEvent` per line, as an export would. */
async function exportNdjson(log: EventLog, path: string): Promise<number> {
  const fd = openSync(path, 'w');
  try {
    for await (const chunk of log.read()) {
      let text = '';
      for (const e of chunk) text += `${JSON.stringify(e)}\n`;
      writeSync(fd, text);
    }
  } finally {
    closeSync(fd);
  }
  return statSync(path).size;
}

interface DuckResult {
  readonly seconds: number;
  readonly windows: number;
  readonly events: number;
  readonly global: Map<string, number>;
}

/**
 * DuckDB is not a dependency of this package (its lock entries name
 * platform binaries the registry here does not carry, which breaks
 * `npm ci`): `npm run bench:server` installs it without saving first.
 */
type Duck = any;
async function loadDuckDB(): Promise<Duck> {
  const name = '@duckdb/node-api';
  try {
    return await import(name);
  } catch {
    throw new Error('DuckDB is missing: run `npm install --no-save @duckdb/node-api@1.5.6-r.1` (npm run bench:server does), or pass --no-duckdb');
  }
}

async function duckdb(path: string, threads: number): Promise<DuckResult> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const db = await instance.connect();
  try {
    const start = performance.now();
    await db.run(`
      CREATE TABLE per_client AS
      SELECT clientId, data.page AS page, time_bucket(INTERVAL '1 minute', epoch_ms(ts)) AS bucket, count(*) AS n
      FROM read_ndjson_auto('${path}')
      GROUP BY ALL`);
    await db.run('CREATE TABLE global_view AS SELECT page, bucket, sum(n) AS n FROM per_client GROUP BY ALL');
    const seconds = (performance.now() - start) / 1_000;
    const totals = (await db.runAndReadAll('SELECT count(*) AS windows, sum(n) AS events FROM per_client')).getRowObjects()[0]!;
    const rows = (await db.runAndReadAll('SELECT page, epoch_ms(bucket) AS start, n FROM global_view')).getRowObjects();
    const global = new Map<string, number>(rows.map((r: Record<string, unknown>) => [`${String(r.page)}@${Number(r.start)}`, Number(r.n)]));
    return { seconds, windows: Number(totals.windows), events: Number(totals.events), global };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

function agree(report: ReconcileReport, duck: DuckResult): void {
  const problems: string[] = [];
  if (report.windows !== duck.windows) problems.push(`per-client windows: reconcile ${report.windows}, DuckDB ${duck.windows}`);
  if (duck.events !== EVENTS) problems.push(`DuckDB counted ${duck.events} events, expected ${EVENTS}`);
  let total = 0;
  for (const w of report.global) {
    total += w.value as number;
    if (duck.global.get(`${w.key}@${w.start}`) !== w.value) problems.push(`global ${w.key}@${w.start}: reconcile ${String(w.value)}, DuckDB ${duck.global.get(`${w.key}@${w.start}`)}`);
  }
  if (report.global.length !== duck.global.size) problems.push(`global windows: reconcile ${report.global.length}, DuckDB ${duck.global.size}`);
  if (total !== EVENTS) problems.push(`reconcile's global counts sum to ${total}, expected ${EVENTS}`);
  if (problems.length > 0) throw new Error(`reconcile and DuckDB disagree:\n  ${problems.slice(0, 10).join('\n  ')}`);
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function main(): Promise<void> {
  const tmp = value('dir', '');
  const dir = tmp || mkdtempSync(join(tmpdir(), 'tidemark-reconcile-bench-'));
  mkdirSync(dir, { recursive: true });
  try {
    let t = performance.now();
    const { log, results, late } = await build(dir);
    console.log(`built a log of ${log.stats().events} events from ${CLIENTS} clients (${late} late on the client) in ${((performance.now() - t) / 1_000).toFixed(1)} s`);
    t = performance.now();
    const ndjson = join(dir, 'events.ndjson');
    const bytes = DUCKDB ? await exportNdjson(log, ndjson) : 0;
    if (DUCKDB) console.log(`exported it as NDJSON (${mb(bytes)}) in ${((performance.now() - t) / 1_000).toFixed(1)} s`);
    collectGarbage();
    const heapWithLog = process.memoryUsage().heapUsed;

    const configs = [
      { name: `reconcile, maxEventsInMemory ${MAX_EVENTS === undefined ? 'default (2 M)' : MAX_EVENTS}`, max: MAX_EVENTS },
      { name: 'reconcile, whole log in memory', max: Infinity },
    ];
    const runs = new Map<string, { seconds: number[]; report?: ReconcileReport }>(configs.map((c) => [c.name, { seconds: [] }]));
    const THREADS = cpus().length;
    const duckSeconds: number[] = [];
    const duckOneThread: number[] = [];
    let duck: DuckResult | undefined;
    const cpu = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    const rss = await rssSampler();
    const peaks = new Map<string, number>();
    const peak = (name: string) => peaks.set(name, Math.max(peaks.get(name) ?? 0, rss.peak()));
    // Timed here, on the wall clock: the report's durationMs is on reconcile's
    // injected clock, fixed here so that every run writes the same corrections.
    const run = async (max: number | undefined) => {
      const start = performance.now();
      const report = await reconcile({
        log,
        pipeline,
        results,
        corrections: memoryCorrections(),
        now: () => T0 + 2 * HOUR,
        ...(max === undefined ? {} : { maxEventsInMemory: max }),
      });
      return { ...report, durationMs: performance.now() - start };
    };
    // No forced collection between timed runs (see collectGarbage): with the
    // log's gigabytes in the heap, one leaves V8 a small allocation limit and
    // the next run pays for several full collections early. One untimed
    // run warms the JIT and lets the heap settle instead.
    const warm = await run(MAX_EVENTS);
    console.log(`  warm-up: ${(warm.durationMs / 1_000).toFixed(2)} s`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of round % 2 === 0 ? configs : [...configs].reverse()) {
        const before = process.cpuUsage();
        rss.reset();
        const report = await run(c.max);
        const used = process.cpuUsage(before);
        peak(c.name);
        cpu.get(c.name)!.push((used.user + used.system) / 1e6);
        if (report.failures.length > 0) throw new Error(`reconcile failed: ${JSON.stringify(report.failures.slice(0, 3))}`);
        const entry = runs.get(c.name)!;
        entry.seconds.push(report.durationMs / 1_000);
        entry.report = report;
        console.log(`  round ${round + 1} ${c.name}: ${(report.durationMs / 1_000).toFixed(2)} s, ${report.passes} passes, ${report.written} corrections, CPU ${cpu.get(c.name)!.at(-1)!.toFixed(2)} s (all threads), peak RSS ${mb(rss.peak())}`);
      }
      if (!DUCKDB) continue;
      rss.reset();
      const d = await duckdb(ndjson, THREADS);
      peak('duckdb');
      if (!duck) for (const r of runs.values()) if (r.report) agree(r.report, d);
      duck = d;
      duckSeconds.push(d.seconds);
      rss.reset();
      const one = await duckdb(ndjson, 1);
      peak('duckdb-1');
      agree(runs.values().next().value!.report!, one);
      duckOneThread.push(one.seconds);
      console.log(`  round ${round + 1} DuckDB: ${d.seconds.toFixed(2)} s (${THREADS} threads), ${one.seconds.toFixed(2)} s (1 thread)`);
    }
    if (duck) for (const r of runs.values()) agree(r.report!, duck);
    await rss.stop();

    const duckMedian = DUCKDB ? median(duckSeconds) : Number.NaN;
    const duckOneMedian = DUCKDB ? median(duckOneThread) : Number.NaN;
    const rows = [...runs].map(([name, r]) => {
      const s = median(r.seconds);
      return { name, seconds: s, eventsPerSecond: EVENTS / s, passes: r.report!.passes, report: r.report! };
    });
    const first = rows[0]!.report;
    console.log(`\n${EVENTS.toLocaleString('en')} events, ${CLIENTS} clients, ${first.windows.toLocaleString('en')} per-client windows, ${first.global.length} global windows, ${first.written.toLocaleString('en')} corrections per run; median of ${ROUNDS}; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}; heap with the log ${mb(heapWithLog)}\n`);
    const all = `all ${THREADS} cores`;
    console.log(`| Engine | Median | Events/s | Passes over the log | vs DuckDB, ${all} | vs DuckDB, one core | Peak RSS |`);
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    const vs = (seconds: number) => (DUCKDB ? `${formatRatio(duckMedian / seconds)} | ${formatRatio(duckOneMedian / seconds)}` : '– | –');
    for (const r of rows)
      console.log(`| ${r.name} | ${r.seconds.toFixed(2)} s | ${formatRate(r.eventsPerSecond)} | ${r.passes} | ${vs(r.seconds)} | ${mb(peaks.get(r.name)!)} |`);
    if (DUCKDB) {
      const what = `read_ndjson_auto (${mb(bytes)}) + time_bucket GROUP BY client, page; global GROUP BY page`;
      console.log(`| DuckDB, ${all} (threads = ${THREADS}): ${what} | ${duckMedian.toFixed(2)} s | ${formatRate(EVENTS / duckMedian)} | – | ${vs(duckMedian)} | ${mb(peaks.get('duckdb')!)} |`);
      console.log(`| DuckDB, one core (threads = 1): the same | ${duckOneMedian.toFixed(2)} s | ${formatRate(EVENTS / duckOneMedian)} | – | ${vs(duckOneMedian)} | ${mb(peaks.get('duckdb-1')!)} |`);
      const head = rows[0]!;
      console.log(
        `\nHeadline: ${head.name} at ${formatRatio(duckMedian / head.seconds)} DuckDB with ${all} (${formatRatio(duckOneMedian / head.seconds)} DuckDB on one core); peak RSS ${mb(peaks.get(head.name)!)} (the process holds the log: ${mb(heapWithLog)} of heap).`,
      );
    }
    if (DUCKDB) console.log('\nChecked: same per-client window count, same global view, counts summing to the events.');
    console.log(
      JSON.stringify({
        bench: 'reconcile',
        events: EVENTS,
        clients: CLIENTS,
        rounds: ROUNDS,
        perClientWindows: first.windows,
        globalWindows: first.global.length,
        corrections: first.written,
        ndjsonBytes: bytes,
        reconcile: rows.map((r) => ({ config: r.name, seconds: r.seconds, eventsPerSecond: Math.round(r.eventsPerSecond), passes: r.passes, peakRssBytes: peaks.get(r.name) })),
        duckdb: DUCKDB ? { seconds: duckMedian, eventsPerSecond: Math.round(EVENTS / duckMedian), threads: THREADS, peakRssBytes: peaks.get('duckdb') } : null,
        duckdbOneThread: DUCKDB ? { seconds: duckOneMedian, eventsPerSecond: Math.round(EVENTS / duckOneMedian), threads: 1, peakRssBytes: peaks.get('duckdb-1') } : null,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        ratio: DUCKDB ? rows.map((r) => duckMedian / r.seconds) : null,
        ratioOneCore: DUCKDB ? rows.map((r) => duckOneMedian / r.seconds) : null,
        agree: DUCKDB,
      }),
    );
    await log.close();
  } finally {
    if (!tmp) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
