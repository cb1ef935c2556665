/**
 * Cluster benchmark (`npm run bench:server`, or
 * `node --import tsx bench/server/cluster.bench.ts`): `tidemark serve --nats
 * … --pipeline … --partitions 4` over a real 3-node JetStream cluster
 * (streams and bucket with 3 replicas), as separate processes.
 *
 * 1. Ingest with one serve process, and with two (the clients split
 *    between them): CLIENTS clients over loopback HTTP, one request in
 *    flight each. Reported: acknowledged events/s, and events/s until the
 *    global view has processed every event (the partitions' processed
 *    counters on /metrics add up to all events). A fresh cluster per round;
 *    configurations alternate; medians of ROUNDS.
 * 2. Failover: with two processes and ingest going on, kill -9 one of them;
 *    the time until the other runs its partitions and has processed an
 *    event in each (kill to the first event processed by the new owner).
 *
 * Nothing is asserted on time. Prints a table and one JSON line.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenFor } from '../../src/server/index.js';
import { startNatsCluster } from '../../test/server/nats.js';
import { median } from '../harness.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const CLIENTS = 8;
const BATCHES = 20;
const PER = 500;
const TTL = '2s';
/** Where the time goes: `PIPELINE=0` ingests without the global speed layer, `REPLICAS=1` with one copy, `PARTITIONS=1` one partition. */
const PIPELINE = process.env['PIPELINE'] !== '0';
const REPLICAS = process.env['REPLICAS'] ?? '3';
const PARTITIONS = process.env['PARTITIONS'] ?? '4';
const secret = 'cluster bench secret, long enough';
const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-cluster-bench-'));
const pipelineFile = join(dir, 'pipeline.mjs');
writeFileSync(
  pipelineFile,
  `
import { count, eventTime, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.at, maxOutOfOrderness: 0 }),
  windowBy({ key: (e) => e.page, window: tumbling(1_000), aggregate: count() }),
);
export const merge = (a, b) => a + b;
`,
);

interface Serve {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

function serve(servers: string, name: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--data', join(dir, name), '--nats', servers, '--replicas', REPLICAS,
      ...(PIPELINE ? ['--pipeline', pipelineFile, '--partitions', PARTITIONS, '--lease-ttl', TTL, '--idle-timeout', '1h'] : [])],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TIDEMARK_SECRET: secret } },
  );
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/[^/\s]+)\/v1/.exec(out);
      if (m && (out.includes('cluster member') || (!PIPELINE && out.includes('key id')))) resolve({ url: m[1]!, child, output: () => out });
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
  });
}

async function metric(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

const processed = async (urls: string[]) => {
  let n = 0;
  for (const u of urls) for (const v of (await metric(u, 'tidemark_cluster_partition_processed_events')).values()) n += v;
  return n;
};
const owned = async (url: string) =>
  [...(await metric(url, 'tidemark_cluster_partition_owned')).entries()].filter(([, v]) => v === 1).map(([k]) => Number(/\d+/.exec(k)![0]));

async function until(check: () => Promise<boolean>, timeoutMs = 120_000, everyMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => tokenFor(secret, `c${i}`)));

async function ingest(urls: string[], batches: number, from = 0, stop?: () => boolean): Promise<number> {
  let events = 0;
  await Promise.all(
    tokens.map(async (token, i) => {
      for (let b = from; b < from + batches && !stop?.(); b++) {
        const body = JSON.stringify({
          clientId: `c${i}`,
          events: Array.from({ length: PER }, (_, k) => {
            const seq = b * PER + k + 1;
            return { seq, ts: seq, data: { page: `/p${seq % 5}`, at: seq * 4 } };
          }),
        });
        for (;;) {
          const url = urls[i % urls.length]!;
          const res = await fetch(`${url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body }).catch(() => undefined);
          await res?.text();
          if (res?.status === 200) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        events += PER;
      }
    }),
  );
  return events;
}

const results = { one: { acked: [] as number[], view: [] as number[] }, two: { acked: [] as number[], view: [] as number[] }, failoverMs: [] as number[], stillMs: [] as number[] };

for (let round = 0; round < ROUNDS; round++) {
  for (const n of round % 2 === 0 ? [1, 2] : [2, 1]) {
    const cluster = await startNatsCluster(3);
    const servers = cluster.urls.join(',');
    const procs: Serve[] = [];
    try {
      for (let i = 0; i < n; i++) procs.push(await serve(servers, `r${round}-${n}-${i}`));
      const urls = procs.map((p) => p.url);
      if (PIPELINE) await until(async () => (await Promise.all(urls.map(owned))).flat().length === Number(PARTITIONS));
      const t0 = performance.now();
      const events = await ingest(urls, BATCHES);
      const acked = performance.now() - t0;
      if (PIPELINE) await until(async () => (await processed(urls)) >= events);
      const viewed = performance.now() - t0;
      const r = n === 1 ? results.one : results.two;
      r.acked.push(events / (acked / 1000));
      r.view.push(events / (viewed / 1000));

      if (n === 2 && PIPELINE) {
        // Failover: the first process dies during ingest; the other takes its partitions and processes an event in each.
        let stop = false;
        const going = ingest([urls[1]!], 1_000, BATCHES, () => stop);
        await new Promise((r) => setTimeout(r, 500));
        const theirs = await owned(urls[0]!);
        const killed = performance.now();
        procs[0]!.child.kill('SIGKILL');
        const before = new Map<number, number>();
        await until(async () => {
          const m = await metric(urls[1]!, 'tidemark_cluster_partition_processed_events');
          let all = true;
          for (const p of theirs) {
            const v = m.get(`{partition="${p}"}`);
            if (v === undefined) {
              all = false;
              continue;
            }
            if (!before.has(p)) before.set(p, v);
            if (v <= before.get(p)!) all = false;
          }
          return all;
        }, 60_000, 10);
        results.failoverMs.push(performance.now() - killed);
        // The lease's part: how long it stood still before the survivor took it.
        for (const m of procs[1]!.output().matchAll(/took-over \(its lease stood still (\d+) ms\)/g)) results.stillMs.push(Number(m[1]));
        stop = true;
        await going;
      }
    } finally {
      for (const p of procs) p.child.kill('SIGKILL');
      await cluster.stop();
    }
  }
}
rmSync(dir, { recursive: true, force: true });

const k = (x: number) => `${(x / 1000).toFixed(1)} k/s`;
const row = (name: string, r: { acked: number[]; view: number[] }) => `| ${name} | ${k(median(r.acked))} | ${k(median(r.view))} |`;
console.log(`\n3-node JetStream cluster (R${REPLICAS}), ${PIPELINE ? `${PARTITIONS} partitions` : 'no pipeline'}, ${CLIENTS} clients × ${BATCHES} × ${PER} events, medians of ${ROUNDS} rounds\n`);
console.log('| serve processes | ingest (acknowledged) | until the global view processed every event |');
console.log('|---|---|---|');
console.log(row('1', results.one));
console.log(row('2', results.two));
console.log(
  `\n2 processes ÷ 1: ingest ${(median(results.two.acked) / median(results.one.acked)).toFixed(2)}×, global view ${(median(results.two.view) / median(results.one.view)).toFixed(2)}×`,
);
if (results.failoverMs.length > 0) console.log(`failover (kill -9 to the first event processed by the new owner, lease TTL ${TTL}): median ${Math.round(median(results.failoverMs))} ms, runs ${results.failoverMs.map(Math.round).join(', ')} ms`);
if (results.stillMs.length > 0) console.log(`of which the lease stood still (as the survivor saw it) before the takeover: median ${Math.round(median(results.stillMs))} ms`);
console.log(
  JSON.stringify({
    bench: 'cluster',
    ingestOne: median(results.one.acked),
    ingestTwo: median(results.two.acked),
    viewOne: median(results.one.view),
    viewTwo: median(results.two.view),
    failoverMs: median(results.failoverMs),
  }),
);
