/**
 * Edge benchmark (`npm run bench:edge`): `POST /v1/ingest` with 500-event
 * batches over loopback HTTP into the edge worker (workers/edge.ts, bundled
 * by `tidemark build-edge` and run by workerd through miniflare: 4
 * partitions, Durable Object storage persisted to disk, forwarding to a real
 * Tidemark server on a memory log), against baselines in the same process:
 *
 * - a workerd worker that only reads and parses the body and answers 200
 *   (the transport's and runtime's ceiling);
 * - the Tidemark server itself (`createHandler` over a memory log, Node adapter);
 * - the same pipeline run directly in Node over the same batches (no I/O).
 *
 * Every round sends `CLIENTS × BATCHES × 500` events from `CLIENTS`
 * concurrent clients, each one request at a time (like the uploader); each
 * request's latency is recorded (a client's first request, which meets a
 * cold isolate and cold Durable Objects, apart). Contenders alternate; figures are medians
 * over `ROUNDS` rounds (p50/p99 over all requests of all rounds). Prints a
 * table and writes it to bench/results/edge.md. Nothing is asserted on
 * time; a round fails if the edge did not process exactly what was sent.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { Miniflare } from 'miniflare';
import { createPipeline } from '../../src/checkpoint/pipeline.js';
import type { EdgeResults } from '../../src/edge/index.js';
import { createHandler, listen, memoryLog, tokenFor } from '../../src/server/index.js';
import { buildEdge, edgeBuildOptions } from '../../src/server/build-edge.js';
import { pipeline } from '../../workers/edge-pipeline.js';

const CLIENTS = 4;
const BATCHES = 40;
const PER_BATCH = 500;
const ROUNDS = 5;
const secret = 'edge bench secret, long enough';
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-edge-bench-'));

const PAGES = ['/home', '/pricing', '/docs', '/blog', '/signup'];
function events(batch: number) {
  const out = [];
  for (let i = 0; i < PER_BATCH; i++) {
    const seq = batch * PER_BATCH + i + 1;
    const ts = 1_700_000_000_000 + seq * 10;
    out.push({ seq, ts, data: { page: PAGES[seq % 5]!, ts, user: seq % 997 } });
  }
  return out;
}

// ---- the bundles
const edge = await buildEdge({ module: join(root, 'workers/edge.ts'), outDir: join(dir, 'edge'), minify: true });
const ackScript = join(dir, 'ack/worker.mjs');
mkdirSync(dirname(ackScript), { recursive: true });
await esbuild.build({
  stdin: {
    contents: `export default { async fetch(req) { const b = JSON.parse(await req.text()); return Response.json({ ackedThrough: b.events.at(-1).seq, appended: b.events.length, duplicates: 0, gaps: [] }); } };`,
    loader: 'js',
  },
  outfile: ackScript,
  format: 'esm',
  minify: true,
  logLevel: 'silent',
});
const rxjsOut = await esbuild.build({
  ...edgeBuildOptions,
  entryPoints: [join(root, 'workers/edge.ts')],
  minify: true,
  external: ['rxjs', 'rxjs/*'],
  write: false,
});
const noRx = rxjsOut.outputFiles[0]!.contents;

// ---- the upstream the edge forwards to
const upstreamLog = memoryLog();
const upstream = await listen(await createHandler({ log: upstreamLog, secret, rate: false }), { port: 0 });

interface Target {
  readonly url: string;
  readonly check: (sent: number) => Promise<void>;
  readonly stop: () => Promise<void>;
}
interface Contender {
  readonly name: string;
  start(round: number): Promise<Target>;
}

const workerd = (script: string, durable: boolean) => async (round: number): Promise<Target> => {
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: dirname(script),
    compatibilityDate: '2025-09-01',
    ...(durable
      ? {
          durableObjects: { PARTITIONS: { className: 'EdgePartition', useSQLite: true } },
          durableObjectsPersist: join(dir, `persist-${round}`),
          bindings: { TIDEMARK_SECRET: secret, TIDEMARK_UPSTREAM: upstream.url },
        }
      : {}),
    host: '127.0.0.1',
    port: 0,
  });
  const url = (await mf.ready).origin;
  return {
    url,
    async check(sent) {
      if (!durable) return;
      const res = await fetch(`${url}/v1/results`, { headers: { authorization: `Bearer ${await tokenFor(secret, 'tidemark-results')}` } });
      const processed = ((await res.json()) as EdgeResults).partitions.reduce((n, p) => n + p.processed, 0);
      if (processed !== sent) throw new Error(`edge processed ${processed} events, sent ${sent}`);
    },
    stop: () => mf.dispose(),
  };
};

const contenders: Contender[] = [
  { name: 'edge worker (workerd, 4 Durable Objects, pipeline + checkpoints)', start: workerd(edge.script, true) },
  { name: 'workerd worker that parses and acks', start: workerd(ackScript, false) },
  {
    name: 'Tidemark server (Node, memory log)',
    async start() {
      const log = memoryLog();
      const server = await listen(await createHandler({ log, secret, rate: false }), { port: 0 });
      return {
        url: server.url,
        async check(sent) {
          if (log.stats().events !== sent) throw new Error(`server holds ${log.stats().events}, sent ${sent}`);
        },
        stop: () => server.close(),
      };
    },
  },
];

const latencies = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
const colds = new Map<string, number[]>(contenders.map((c) => [c.name, []]));

async function round(c: Contender, r: number, record: boolean): Promise<void> {
  const ids = Array.from({ length: CLIENTS }, (_, i) => `bench-${r}-${i}`);
  const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
  const bodies = ids.map((id) => Array.from({ length: BATCHES }, (_, b) => JSON.stringify({ clientId: id, events: events(b) })));
  const target = await c.start(r);
  try {
    const lat: number[] = [];
    const cold: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      ids.map(async (_, i) => {
        for (const [b, body] of bodies[i]!.entries()) {
          const s = performance.now();
          const res = await fetch(`${target.url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${tokens[i]}` }, body });
          await res.text();
          if (res.status !== 200) throw new Error(`${c.name}: ${res.status}`);
          // A client's first request meets a cold isolate and a cold Durable Object: reported apart.
          (b === 0 ? cold : lat).push(performance.now() - s);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await target.check(CLIENTS * BATCHES * PER_BATCH);
    if (record) {
      latencies.get(c.name)!.push(...lat);
      colds.get(c.name)!.push(...cold);
      rates.get(c.name)!.push((CLIENTS * BATCHES * PER_BATCH) / seconds);
    }
  } finally {
    await target.stop();
  }
}

for (const c of contenders) await round(c, 1000 + contenders.indexOf(c), false); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? contenders : [...contenders].reverse();
  for (const c of order) await round(c, r * 10 + contenders.indexOf(c), true);
}

// The same pipeline in Node over the same batches: the compute ceiling.
const batches = Array.from({ length: CLIENTS * BATCHES }, (_, b) => events(b % BATCHES));
const direct: number[] = [];
for (let r = 0; r < ROUNDS + 1; r++) {
  const runs = Array.from({ length: CLIENTS }, () => createPipeline(pipeline).open(() => {}));
  const t0 = performance.now();
  batches.forEach((batch, i) => {
    for (const e of batch) runs[i % CLIENTS]!.push(e.data);
  });
  if (r > 0) direct.push((CLIENTS * BATCHES * PER_BATCH) / ((performance.now() - t0) / 1000));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const rate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(0)} k/s`);
const edgeRate = median(rates.get(contenders[0]!.name)!);
const lines = [
  `Edge ingest over loopback HTTP: ${CLIENTS} concurrent clients × ${BATCHES} batches × ${PER_BATCH} events, median of ${ROUNDS} rounds; latency percentiles over the ${ROUNDS * CLIENTS * (BATCHES - 1)} warm requests, and the median of each client's first (cold) request`,
  '',
  '| Contender | events/s | this ÷ edge | p50 latency | p99 latency | first request |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...contenders.map((c) => {
    const m = median(rates.get(c.name)!);
    const l = latencies.get(c.name)!;
    return `| ${c.name} | ${rate(m)} | ${(m / edgeRate).toFixed(2)}× | ${pct(l, 50).toFixed(1)} ms | ${pct(l, 99).toFixed(1)} ms | ${median(colds.get(c.name)!).toFixed(1)} ms |`;
  }),
  `| same pipeline in Node, no I/O | ${rate(median(direct))} | ${(median(direct) / edgeRate).toFixed(2)}× | | | |`,
  '',
  `Edge worker bundle (workers/edge.ts, esbuild --minify, rxjs included): ${(edge.bytes / 1024).toFixed(1)} kB, ${(edge.gzipBytes / 1024).toFixed(1)} kB min+gz; ` +
    `without rxjs: ${(noRx.length / 1024).toFixed(1)} kB, ${(gzipSync(noRx, { level: 9 }).length / 1024).toFixed(1)} kB min+gz.`,
];
console.log(`\n${lines.join('\n')}`);
console.log(
  `\n${JSON.stringify({ bench: 'edge', clients: CLIENTS, batch: PER_BATCH, eventsPerSecond: Object.fromEntries([...rates].map(([k, v]) => [k, Math.round(median(v))])), direct: Math.round(median(direct)), p50: Object.fromEntries([...latencies].map(([k, v]) => [k, +pct(v, 50).toFixed(2)])), p99: Object.fromEntries([...latencies].map(([k, v]) => [k, +pct(v, 99).toFixed(2)])), bundleBytes: edge.bytes, bundleGzipBytes: edge.gzipBytes })}`,
);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/edge.md'), `# Edge\n\n${lines.join('\n')}\n`);
await upstream.close();
await upstreamLog.close();
rmSync(dir, { recursive: true, force: true });
