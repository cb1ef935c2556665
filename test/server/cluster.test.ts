// The whole server on a real 3-node NATS JetStream cluster: two `tidemark
// serve --nats … --pipeline` processes share the global speed layer's
// partitions through leases; one of them and one NATS node are killed with
// SIGKILL during ingest. Afterwards every acknowledged event is in the log
// once, the served view and the batch view equal a computation over every
// event, and the survivor took the dead process's partitions over.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewRow } from '../../src/protocol/index.js';
import { adminTokenFor, jetStreamLog, readerTokenFor, tokenFor } from '../../src/server/index.js';
import { until } from '../helpers.js';
import { root, tidemarkCli } from './cli-process.js';
import { type NatsCluster, startNatsCluster } from './nats.js';
import { promtoolProblems } from './promtool.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-cluster-'));
const secret = 'the secret of the cluster test';
const { serve, cli, killAll } = tidemarkCli({ TIDEMARK_SECRET: secret });
let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster(3);
}, 60_000);
afterAll(async () => {
  killAll();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const WINDOW = 1_000;
const END_TS = 1_000_000; // each client's last event: it moves every watermark past the windows compared
const pipelineFile = join(dir, 'pipeline.mjs');
writeFileSync(
  pipelineFile,
  `
import { count, eventTime, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.at, maxOutOfOrderness: 0 }),
  windowBy({ key: (e) => e.page, window: tumbling(${WINDOW}), aggregate: count(), allowedLateness: 3_600_000 }),
);
export const merge = (a, b) => a + b;
`,
);

const strip = (rows: Iterable<{ key: string | number; start: number; end: number; value: unknown }>) =>
  [...rows]
    .filter((r) => r.start < END_TS)
    .map(({ key, start, end, value }) => ({ key, start, end, value }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start));

describe('tidemark serve --nats on a 3-node JetStream cluster', () => {
  it('loses nothing when one serve process and one NATS node are killed during ingest; the survivor takes the partitions over', async () => {
    const servers = cluster.urls.join(',');
    const common = ['--nats', servers, '--replicas', '3', '--pipeline', pipelineFile, '--partitions', '4', '--lease-ttl', '2s', '--idle-timeout', '1h'];
    const a = await serve('--data', join(dir, 'a'), ...common);
    const b = await serve('--data', join(dir, 'b'), ...common);
    const reader = await readerTokenFor(secret, 'check');
    const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
    const ownedBy = async (url: string) =>
      [...(await metrics(url)).matchAll(/tidemark_cluster_partition_owned\{partition="(\d+)"\} 1/g)].map((m) => Number(m[1]));
    // The two processes share the four partitions.
    await until('both processes to run two partitions each', async () => (await ownedBy(a.url)).length === 2 && (await ownedBy(b.url)).length === 2, {
      timeoutMs: 20_000,
      everyMs: 100,
    });

    const CLIENTS = 8;
    const BATCHES = 30;
    const PER = 50;
    const ids = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);
    const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
    const acked = ids.map(() => 0);
    let acks = 0;
    let aDead = false;
    let killedAt = 0;
    let failover: Promise<number> | undefined;
    const urls = [a.url, b.url];
    const post = async (i: number, events: unknown[]) => {
      // Any process answers any client: on a failure, the other one (retrying is safe).
      for (let attempt = 0; ; attempt++) {
        const url = aDead ? b.url : urls[(i + attempt) % 2]!;
        try {
          const res = await fetch(`${url}/v1/ingest`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[i]}` },
            body: JSON.stringify({ clientId: ids[i], events }),
          });
          await res.text();
          if (res.status === 200) return;
        } catch {
          // connection refused: the killed process
        }
        if (attempt > 200) throw new Error(`client ${i}: no process accepted the batch`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const send = async (i: number) => {
      for (let batch = 0; batch < BATCHES; batch++) {
        const events = Array.from({ length: PER }, (_, k) => {
          const seq = batch * PER + k + 1;
          return { seq, ts: seq, data: { page: `/p${(seq + i) % 3}`, at: seq * 10 + i } };
        });
        await post(i, events);
        acked[i] = batch * PER + PER;
        if (++acks === 60) {
          // Mid-ingest: kill one serve process and one NATS node.
          killedAt = Date.now();
          aDead = true;
          a.child.kill('SIGKILL');
          await cluster.nodes[0]!.kill();
          failover = until('the survivor to run all four partitions', async () => /took-over .*runs partitions \[0, 1, 2, 3\]/.test(b.output()), {
            timeoutMs: 60_000,
            everyMs: 50,
          }).then(() => Date.now() - killedAt);
        }
      }
      const last = BATCHES * PER + 1;
      await post(i, [{ seq: last, ts: last, data: { page: '/end', at: END_TS } }]);
      acked[i] = last;
    };
    await Promise.all(ids.map((_, i) => send(i)));
    expect(killedAt).toBeGreaterThan(0);

    // The survivor runs every partition: the time from the kill is the failover time.
    const failoverMs = await failover!;
    console.log(`cluster test: failover took ${failoverMs} ms from kill -9 to the survivor running all partitions (lease TTL 2 s)`);
    expect(b.output()).toMatch(/partition \d took-over \(its lease stood still \d+ ms\); this process runs partitions \[0, 1, 2, 3\] of 4/);
    // Ownership, lease ages and takeovers on /metrics, in a form Prometheus takes.
    const survivorMetrics = await metrics(b.url);
    expect(survivorMetrics).toMatch(/^tidemark_cluster_takeovers_total [1-9]\d*$/m);
    expect(survivorMetrics).toMatch(/^tidemark_cluster_lease_age_seconds\{partition="3"\} /m);
    expect(await promtoolProblems(survivorMetrics)).toBe('');

    // Every acknowledged event is in the log, once.
    // Read back from the two live nodes; a cluster that just lost a node drops some requests for a while: read again then.
    const all: { clientId: string; seq: number; data: { page: string; at: number } }[] = [];
    for (let attempt = 0; ; attempt++) {
      all.length = 0;
      try {
        const log = await jetStreamLog({ servers: cluster.urls.slice(1), refreshMs: 0 });
        try {
          for await (const chunk of log.read()) for (const e of chunk) all.push(e as never);
        } finally {
          await log.close();
        }
        break;
      } catch (e) {
        if (attempt === 5) throw e;
      }
    }
    const seen = new Map<string, Set<number>>();
    for (const e of all) {
      const s = seen.get(e.clientId) ?? new Set<number>();
      expect(s.has(e.seq)).toBe(false);
      s.add(e.seq);
      seen.set(e.clientId, s);
    }
    ids.forEach((id, i) => expect(seen.get(id)?.size).toBe(acked[i]));

    // What a single process over every event computes: each window's count per page.
    const expected = new Map<string, { key: string; start: number; end: number; value: number }>();
    for (const e of all) {
      const start = Math.floor(e.data.at / WINDOW) * WINDOW;
      const k = `${e.data.page}|${start}`;
      const w = expected.get(k) ?? { key: e.data.page, start, end: start + WINDOW, value: 0 };
      w.value++;
      expected.set(k, w);
    }
    const view = async (url: string) =>
      (await (await fetch(`${url}/v1/views`, { headers: { authorization: `Bearer ${reader}` } })).json()) as { rows: ViewRow[]; lastEventId: number };
    await until(
      'the served view to equal the computation over every event',
      async () => JSON.stringify(strip((await view(b.url)).rows)) === JSON.stringify(strip(expected.values())),
      { timeoutMs: 15_000, everyMs: 200 },
    ).catch(async (e) => {
      console.log(b.output());
      console.log(await metrics(b.url), all.length);
      expect(strip((await view(b.url)).rows)).toEqual(strip(expected.values()));
      throw e;
    });
    expect(strip((await view(b.url)).rows)).toEqual(strip(expected.values()));

    // The killed process comes back: it folds the same view, with the same change ids.
    await cluster.nodes[0]!.start();
    const a2 = await serve('--data', join(dir, 'a'), ...common);
    await until('the restarted process to serve the same view', async () => {
      const [x, y] = await Promise.all([view(a2.url), view(b.url)]);
      return x.lastEventId === y.lastEventId && JSON.stringify(x.rows) === JSON.stringify(y.rows);
    }, { timeoutMs: 30_000, everyMs: 200 });
    await until('the partitions to be shared again', async () => (await ownedBy(a2.url)).length === 2, { timeoutMs: 20_000, everyMs: 100 });

    // The batch layer, split like the speed layer: each process runs it for the clients of its partitions, and every
    // process serves their parts combined (here with the speed rows, which equal them: nothing is late beyond the lateness).
    const admin = await adminTokenFor(secret);
    const reconcileOn = async (url: string) => {
      const res = await fetch(`${url}/v1/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as { clients: number; events: number; written: number };
    };
    const runs = [await reconcileOn(a2.url), await reconcileOn(b.url)];
    expect(runs[0]!.clients + runs[1]!.clients).toBe(CLIENTS);
    expect(runs[0]!.events + runs[1]!.events).toBe(all.length);
    expect(runs.every((r) => r.clients > 0)).toBe(true);
    expect(strip((await view(a2.url)).rows)).toEqual(strip(expected.values()));
    // And one run over every client, as `tidemark reconcile --nats` makes it, computes the same batch view.
    const { stdout } = await cli('reconcile', '--pipeline', pipelineFile, '--nats', servers, '--data', join(dir, 'batch'), '--json');
    const report = JSON.parse(stdout) as { global: { key: string; start: number; end: number; value: number }[] };
    expect(strip(report.global)).toEqual(strip(expected.values()));

    // Uploaded results and corrections live in JetStream: a client uploads its result to one process,
    // the batch layer runs on the other, and the first one serves the correction.
    const mine = all.filter((e) => e.clientId === 'client-0' && e.data.page === '/p0' && e.data.at < WINDOW).length;
    const upload = await fetch(`${b.url}/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[0]}` },
      body: JSON.stringify({ clientId: 'client-0', events: [], results: [{ key: '/p0', start: 0, end: WINDOW, value: mine + 5, pane: 0 }], watermark: 1e8 }),
    });
    expect(upload.status).toBe(200);
    const reruns = [await reconcileOn(a2.url), await reconcileOn(b.url)];
    expect(reruns[0]!.written + reruns[1]!.written).toBeGreaterThan(0);
    const served = (await (
      await fetch(`${b.url}/v1/corrections?clientId=client-0&after=0`, { headers: { authorization: `Bearer ${tokens[0]}` } })
    ).json()) as { corrections: { key: string; start: number; speed: number; batch: number }[] };
    // Its wrong window is corrected (and it learns the final value of every window it never reported).
    const latest = served.corrections.filter((c) => c.key === '/p0' && c.start === 0).at(-1)!;
    expect({ speed: latest.speed, batch: latest.batch }).toEqual({ speed: mine + 5, batch: mine });
    expect(served.corrections.every((c) => c.speed === null || (c.key === '/p0' && c.start === 0))).toBe(true);
    // No state on a member's disk: its data directory was never made.
    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(existsSync(join(dir, 'b'))).toBe(false);

    // Every client reports a watermark past every window's lateness: after both processes ran the batch layer, every
    // window is final, its value the four partitions' batch parts merged, on either process.
    for (const [i, id] of ids.entries()) {
      const res = await fetch(`${b.url}/v1/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[i]}` },
        body: JSON.stringify({ clientId: id, events: [], results: [{ key: '/end', start: END_TS, end: END_TS + WINDOW, value: 1, pane: 0 }], watermark: 1e8 }),
      });
      expect(res.status).toBe(200);
    }
    await reconcileOn(a2.url);
    await reconcileOn(b.url);
    for (const url of [a2.url, b.url]) {
      const rows = (await view(url)).rows.filter((r) => r.start < END_TS);
      expect(rows.every((r) => r.final && r.source === 'batch')).toBe(true);
      expect(strip(rows)).toEqual(strip(expected.values()));
    }
  }, 240_000);
});
