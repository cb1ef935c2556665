// Leases and fencing on a real 3-node NATS JetStream cluster, and the
// configurations the cluster refuses at start.
//
// A serve process frozen (SIGSTOP) longer than the lease TTL while a NATS
// node is stopped: the other process takes its partitions over, and when the
// frozen one resumes, every checkpoint it still tries to write is refused
// and every pane it still publishes is ignored. Checked on what JetStream
// holds: along each partition's checkpoint history the owner's term never
// goes back, and one term has one owner; and on what both processes serve:
// every window that every partition has closed counts each acknowledged
// event once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import type { ViewRow } from '../../src/protocol/index.js';
import { type BatchPipeline, clusterSpeedLayer, jetStreamLog, readerTokenFor, tokenFor } from '../../src/server/index.js';
import { until } from '../helpers.js';
import { root, tidemarkCli } from './cli-process.js';
import { freePort, type NatsCluster, startNatsCluster } from './nats.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-fencing-'));
const secret = 'the secret of the fencing test';
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

const pipelineFile = join(dir, 'pipeline.mjs');
writeFileSync(
  pipelineFile,
  `
import { count, eventTime, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.at, maxOutOfOrderness: 0 }),
  windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count(), allowedLateness: 3_600_000 }),
);
export const merge = (a, b) => a + b;
`,
);
const pipeline: BatchPipeline = (events$) =>
  events$.pipe(
    eventTime({ timestamp: (e: { at: number }) => e.at, maxOutOfOrderness: 0 }),
    windowBy({ key: () => 'all', window: tumbling(100), aggregate: count() }),
  );

interface Term {
  readonly epoch: number;
  readonly owner?: string;
}

describe('cluster leases and fencing', () => {
  it('a process frozen past its lease while a NATS node is down: the partitions are taken over, its later checkpoints are refused and its later panes ignored', async () => {
    const servers = cluster.urls.join(',');
    const common = ['--nats', servers, '--replicas', '3', '--pipeline', pipelineFile, '--partitions', '2', '--lease-ttl', '1s', '--idle-timeout', '1h'];
    const a = await serve('--data', join(dir, 'a'), ...common);
    await until('the first process to run both partitions', async () => /runs partitions \[0, 1\]/.test(a.output()), { timeoutMs: 20_000 });
    const b = await serve('--data', join(dir, 'b'), ...common);
    await until('the partitions to be shared', async () => /partition \d acquired/.test(b.output()), { timeoutMs: 20_000 });

    // Every checkpoint head written, as JetStream orders them.
    const nc = await connect({ servers: cluster.urls });
    const kv = await new Kvm(nc).open('TIDEMARK_STATE');
    const heads: { key: string; revision: number; term: Term }[] = [];
    const watch = await kv.watch({ key: 'cp.*' });
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') heads.push({ key: e.key, revision: e.revision, term: e.json<Term>() });
    })();

    const ids = ['c0', 'c1', 'c2', 'c3'];
    const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
    let stop = false;
    const acked = ids.map(() => 0);
    const ingest = async (i: number) => {
      for (let seq = 1; !stop; seq++) {
        const events = [{ seq, ts: seq, data: { page: `/p${seq % 2}`, at: seq * 10 } }];
        for (;;) {
          const res = await fetch(`${b.url}/v1/ingest`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[i]}` },
            body: JSON.stringify({ clientId: ids[i], events }),
          }).catch(() => undefined);
          await res?.text();
          if (res?.status === 200) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        acked[i] = seq;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const clients = ids.map((_, i) => ingest(i));
    await new Promise((r) => setTimeout(r, 1_500));

    // Freeze the process (a long GC pause, a VM migration) and stop a NATS node.
    const aOwned = /runs partitions \[([\d, ]*)\]/g;
    const ownedByA = [...a.output().matchAll(aOwned)].at(-1)![1]!;
    a.child.kill('SIGSTOP');
    await cluster.nodes[2]!.kill();
    await until('the other process to take the frozen one\'s partitions over', async () => /took-over/.test(b.output()), { timeoutMs: 30_000, everyMs: 50 });
    a.child.kill('SIGCONT');
    await until('the resumed process to learn it lost them', async () => /partition \d lost/.test(a.output()), { timeoutMs: 30_000, everyMs: 50 });
    await cluster.nodes[2]!.start();
    await cluster.ready();
    await new Promise((r) => setTimeout(r, 2_000));
    stop = true;
    await Promise.all(clients);
    console.log(
      `fencing test: the frozen process ran [${ownedByA}]; after resuming it reported: ` +
        a.output().split('\n').filter((l) => / lost /.test(l)).map((l) => l.replace(/^tidemark: /, '')).join(' | '),
    );

    // Checkpoints: per partition, the term never goes back, and one term has one owner.
    watch.stop();
    // The watch's consumer may have stalled with the stopped node: add the bucket's own history of each head (its last 8).
    for (const key of ['cp.0', 'cp.1'])
      for await (const e of await kv.history({ key }))
        if (e.operation === 'PUT' && !heads.some((h) => h.revision === e.revision)) heads.push({ key: e.key, revision: e.revision, term: e.json<Term>() });
    heads.sort((x, y) => x.revision - y.revision);
    expect(heads.length).toBeGreaterThan(2);
    for (const key of ['cp.0', 'cp.1']) {
      const list = heads.filter((h) => h.key === key);
      const owners = new Map<number, string>();
      for (let i = 0; i < list.length; i++) {
        if (i > 0) expect(list[i]!.term.epoch).toBeGreaterThanOrEqual(list[i - 1]!.term.epoch);
        const o = owners.get(list[i]!.term.epoch);
        if (o !== undefined) expect(list[i]!.term.owner).toBe(o);
        owners.set(list[i]!.term.epoch, list[i]!.term.owner!);
      }
    }
    // Panes: the resumed process may still have published some before it
    // learned; every process's fold ignores a pane of an older term after a
    // newer fence, so the views count each acknowledged event once. Checked on
    // the windows every client's watermark has passed (fired in both partitions).
    const jsm = await jetstreamManager(nc);
    let stale = 0;
    for (const p of [0, 1]) {
      const subject = `tidemark.view.speed.${p}`;
      const consumer = await jetstream(nc).consumers.get('TIDEMARK_VIEW', { filter_subjects: subject });
      const total = (await jsm.streams.info('TIDEMARK_VIEW', { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
      let term = 0;
      let n = 0;
      for (; n < total; n++) {
        const m = await consumer.next({ expires: 5_000 });
        if (!m) break;
        const doc = m.json<{ fence?: number; epoch?: number }>();
        const t = doc.fence ?? doc.epoch!;
        if (t < term) stale++;
        term = Math.max(term, t);
      }
      expect(n).toBe(total);
      expect(total).toBeGreaterThan(2);
    }
    const expected = new Map<string, number>();
    for (const last of acked)
      for (let seq = 1; seq <= last; seq++) {
        const id = `/p${seq % 2}@${Math.floor((seq * 10) / 100) * 100}`;
        expected.set(id, (expected.get(id) ?? 0) + 1);
      }
    const closedBefore = Math.min(...acked) * 10;
    const reader = await readerTokenFor(secret, 'check');
    const closed = async (url: string) => {
      const body = (await (await fetch(`${url}/v1/views`, { headers: { authorization: `Bearer ${reader}` } })).json()) as { rows: ViewRow[] };
      return body.rows.filter((r) => r.end <= closedBefore).map((r) => [`${r.key}@${r.start}`, r.value] as const);
    };
    const want = [...expected].filter(([id]) => Number(id.split('@')[1]) + 100 <= closedBefore).sort();
    await until('both processes to serve every closed window', async () => {
      const [va, vb] = [await closed(a.url), await closed(b.url)];
      return JSON.stringify([...va].sort()) === JSON.stringify(want) && JSON.stringify([...vb].sort()) === JSON.stringify(want);
    }, { timeoutMs: 30_000, everyMs: 200 }).catch(async (e: Error) => {
      expect([...(await closed(b.url))].sort()).toEqual(want);
      expect([...(await closed(a.url))].sort()).toEqual(want);
      throw e;
    });
    console.log(`fencing test: ${stale} pane message(s) of an older term after a newer fence, ignored by both folds`);
    await nc.close();
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  }, 180_000);
});

describe('configurations the cluster refuses at start', () => {
  // After the test above stopped and started a node: every node answers again.
  beforeAll(() => cluster.ready(), 60_000);

  it('a bucket with one replica on a three-node cluster when three were asked for', async () => {
    const nc = await connect({ servers: cluster.urls });
    await new Kvm(nc).create('ONE_STATE', { replicas: 1 });
    await nc.close();
    const err = await clusterSpeedLayer({ servers: cluster.urls, stream: 'ONE', subjectPrefix: 'one', replicas: 3, pipeline }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('InvalidOptionError');
    expect((err as Error).message).toMatch(/KV bucket ONE_STATE has 1 replica and 3 were asked for.*--replicas 3.*or pass --replicas 1/);
  });

  it('a log stream that cannot hold the log: too few replicas, a duplicate window too short, work-queue retention', async () => {
    const nc = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'R1', subjects: ['r1.events.*'], num_replicas: 1, storage: StorageType.File, duplicate_window: 120e9 });
    await jsm.streams.add({ name: 'DW', subjects: ['dw.events.*'], num_replicas: 3, storage: StorageType.File, duplicate_window: 1e9 });
    await jsm.streams.add({ name: 'WQ', subjects: ['wq.events.*'], storage: StorageType.File, retention: RetentionPolicy.Workqueue });
    await nc.close();
    const open = (stream: string, subjectPrefix: string) =>
      jetStreamLog({ servers: cluster.urls, stream, subjectPrefix, replicas: 3, refreshMs: 0 }).then(
        async (log) => {
          await log.close();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
    expect((await open('R1', 'r1'))?.message).toMatch(/stream "R1" has 1 replica\(s\) and 3 were asked for.*nats stream edit R1 --replicas 3/);
    expect((await open('DW', 'dw'))?.message).toMatch(/duplicate window of 1000 ms, shorter than twice the publish timeout.*--dupe-window/);
    expect((await open('WQ', 'wq'))?.message).toMatch(/workqueue retention.*needs limits retention/);
  });

  it('an unreachable NATS URL: serve exits at once with what to check', async () => {
    const port = await freePort();
    const err = await cli('serve', '--port', '0', '--data', join(dir, 'x'), '--nats', `nats://127.0.0.1:${port}`, '--pipeline', pipelineFile).catch(
      (e: { stderr: string; code: number }) => e,
    );
    expect((err as { code: number }).code).not.toBe(0);
    expect((err as { stderr: string }).stderr).toMatch(new RegExp(`could not connect to NATS at nats://127.0.0.1:${port}.*is nats-server running`));
  });
});
