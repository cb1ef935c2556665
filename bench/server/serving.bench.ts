/**
 * Serving-layer benchmark (`npm run bench:server`, or
 * `node --import tsx bench/server/serving.bench.ts`):
 *
 * 1. Ingest over loopback HTTP into the file log (fsync), without and with
 *    the global speed layer (`serve --pipeline`: a tumbling count over every
 *    client's events, one watermark per client), alternating, medians of
 *    `ROUNDS`. With the layer, a round ends when the layer has processed
 *    every event, not only when the last upload is acknowledged.
 * 2. Latency from the emission of the event that closes a window on a
 *    client to that window's row arriving at a `GET /v1/views/stream`
 *    subscriber: upload (one request in flight, as the uploader), log
 *    (fsync), global pipeline, push. 4 clients at 1 000 and 10 000 events/s
 *    in all; p50 and p99.
 * 3. 1 000 concurrent subscribers on loopback at 1 000 events/s: push
 *    latency over all of them, and the server's memory with them connected.
 *
 * The clients and subscribers run in a child process (serving-client.mjs);
 * the server has this process. Nothing is asserted on time; a run fails
 * only if the log or the view does not hold what was sent. Prints tables,
 * then one JSON line.
 *
 * @module
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import { type BatchPipeline, createHandler, fileLog, globalSpeedLayer, listen, readerTokenFor, tokenFor } from '../../src/server/index.js';

const secret = 'serving bench secret, long enough';
const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
/** Which parts to run: `PARTS=23` skips the ingest comparison. */
const PARTS = process.env['PARTS'] ?? '123';
const CLIENTS = 16;
const BATCHES = 40;
const PER_BATCH = 500;

const pipeline = (windowMs: number): BatchPipeline<{ page: string; at: number }> => (events$) =>
  events$.pipe(
    eventTime({ timestamp: (e: { page: string; at: number }) => e.at, maxOutOfOrderness: 0 }),
    windowBy({ key: (e) => e.page, window: tumbling(windowMs), aggregate: count() }),
  );

async function server(withSpeed: boolean, windowMs = 1_000, maxStreams = 8) {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-serving-bench-'));
  const log = await fileLog(join(dir, 'log'));
  const speed = withSpeed ? await globalSpeedLayer({ dataDir: dir, log, pipeline: pipeline(windowMs) }) : undefined;
  const handler = await createHandler({ log, secret, rate: false, ...(speed ? { views: speed, maxStreamsPerReader: maxStreams } : {}) });
  const http = await listen(handler, { port: 0 });
  return {
    url: http.url,
    log,
    speed,
    async stop() {
      await speed?.close();
      await http.close();
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- 1. Ingest with and without the global speed layer
const PAGES = ['/home', '/pricing', '/docs', '/blog', '/signup'];
function body(clientId: string, batch: number): string {
  const events = [];
  for (let i = 0; i < PER_BATCH; i++) {
    const seq = batch * PER_BATCH + i + 1;
    const at = 1_700_000_000_000 + seq * 10;
    events.push({ seq, ts: at, data: { page: PAGES[seq % 5], at } });
  }
  return JSON.stringify({ clientId, events });
}

async function ingestRound(withSpeed: boolean, r: number): Promise<number> {
  const ids = Array.from({ length: CLIENTS }, (_, i) => `bench-${r}-${i}`);
  const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
  const bodies = ids.map((id) => Array.from({ length: BATCHES }, (_, b) => body(id, b)));
  const s = await server(withSpeed);
  try {
    const started = performance.now();
    const worker = new Worker(new URL('./ingest-client.mjs', import.meta.url), { workerData: { url: s.url, tokens, bodies } });
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    await s.speed?.idle();
    const seconds = (performance.now() - started) / 1000;
    const expected = CLIENTS * BATCHES * PER_BATCH;
    if (s.log.stats().events !== expected) throw new Error(`the log holds ${s.log.stats().events} events, sent ${expected}`);
    if (s.speed && s.speed.status().processed !== expected)
      throw new Error(`the global speed layer processed ${s.speed.status().processed} of ${expected} events`);
    return expected / seconds;
  } finally {
    await s.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const without: number[] = [];
const withLayer: number[] = [];
if (PARTS.includes('1')) {
  await ingestRound(false, -1);
  await ingestRound(true, -2);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating order, so drift on the machine favours neither.
    if (r % 2 === 0) {
      without.push(await ingestRound(false, r * 2));
      withLayer.push(await ingestRound(true, r * 2 + 1));
    } else {
      withLayer.push(await ingestRound(true, r * 2 + 1));
      without.push(await ingestRound(false, r * 2));
    }
  }
  const rate = (x: number) => `${(x / 1e3).toFixed(0)} k/s`;
  console.log(`\n1. Ingest over loopback HTTP into the file log: ${CLIENTS} clients × ${BATCHES} × ${PER_BATCH} events, median of ${ROUNDS}\n`);
  console.log('| Server | events/s | ratio |');
  console.log('| --- | ---: | ---: |');
  console.log(`| serve (no pipeline) | ${rate(median(without))} | 1.00× |`);
  console.log(`| serve --pipeline (global speed layer; until processed) | ${rate(median(withLayer))} | ${(median(withLayer) / median(without)).toFixed(2)}× |`);
}

// ---- 2 and 3. Latency to a subscriber
interface Latency {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly rssMiB?: number;
  readonly rssBeforeMiB?: number;
}

async function latency(eventsPerSecond: number, subscribers: number, seconds = 12): Promise<Latency> {
  const windowMs = 100;
  const s = await server(true, windowMs, subscribers + 1);
  try {
    const ids = ['lat-0', 'lat-1', 'lat-2', 'lat-3'];
    const clientTokens = await Promise.all(ids.map(async (id) => [id, await tokenFor(secret, id)]));
    const readerToken = await readerTokenFor(secret, 'bench');
    globalThis.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const child = fork(new URL('./serving-client.mjs', import.meta.url), [
      JSON.stringify({ url: s.url, clientTokens, readerToken, rate: eventsPerSecond, seconds, subscribers, windowMs, warmupSeconds: 1 }),
    ]);
    let rss = 0;
    const result = await new Promise<Latency>((resolve, reject) => {
      child.on('message', (m: { kind: string } & Latency) => {
        if (m.kind === 'subscribed') {
          globalThis.gc?.();
          rss = process.memoryUsage().rss;
          child.send('go');
        } else resolve(m);
      });
      child.once('error', reject);
      child.once('exit', (code) => (code ? reject(new Error(`serving-client exited ${code}`)) : undefined));
    });
    if (result.samples === 0) throw new Error('no window row reached a subscriber');
    return { ...result, rssMiB: rss / 2 ** 20, rssBeforeMiB: rssBefore / 2 ** 20 };
  } finally {
    await s.stop();
  }
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const none: Latency = { samples: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
const lat1k = PARTS.includes('2') ? await latency(1_000, 1) : none;
const lat10k = PARTS.includes('2') ? await latency(10_000, 1) : none;
if (PARTS.includes('2')) console.log('\n2. Emission of the event that closes a window → its row at an SSE subscriber (4 clients, 100 ms windows)\n');
if (PARTS.includes('2')) console.log('| Load | windows | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |');
for (const [name, l] of PARTS.includes('2') ? ([['1 000 events/s', lat1k], ['10 000 events/s', lat10k]] as const) : [])
  console.log(`| ${name} | ${l.samples} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.max)} |`);

const fan = PARTS.includes('3') ? await latency(1_000, 1_000) : none;
if (PARTS.includes('3')) {
  console.log('\n3. 1 000 concurrent subscribers at 1 000 events/s\n');
  console.log('| Rows received | p50 | p99 | max | server RSS before → with 1 000 streams |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  console.log(`| ${fan.samples} | ${ms(fan.p50)} | ${ms(fan.p99)} | ${ms(fan.max)} | ${fan.rssBeforeMiB!.toFixed(0)} → ${fan.rssMiB!.toFixed(0)} MiB |`);
}

console.log(
  `\n${JSON.stringify({
    bench: 'serving',
    ...(without.length ? { ingest: { without: Math.round(median(without)), with: Math.round(median(withLayer)), ratio: median(withLayer) / median(without) } } : {}),
    latency1k: lat1k,
    latency10k: lat10k,
    fanout1000: fan,
  })}`,
);
