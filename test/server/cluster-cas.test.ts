// Conditional writes on a real 3-node NATS JetStream cluster, raced from two
// processes' connections to two different nodes.
//
// nats-server 2.9 (Debian's) does not enforce a subject's expected last
// sequence on a replicated stream when two publishes race (both are stored),
// so the cluster layer expects the stream's last sequence instead. These
// tests fail when a conditional write can be accepted twice: a lease or a
// checkpoint head with two owners, a correction cursor issued twice.
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import type { Correction } from '../../src/protocol/index.js';
import { type BatchPipeline, clusterSpeedLayer, clusterStores, jetStreamLog } from '../../src/server/index.js';
import { until } from '../helpers.js';
import { openClusterNats, type ClusterNats } from '../../src/server/jetstream-cluster.js';
import { systemClock } from '../../src/time/clock.js';
import { type NatsCluster, startNatsCluster } from './nats.js';

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const open = (node: number, stream: string): Promise<ClusterNats> =>
  openClusterNats({ servers: [cluster.urls[node]!], stream, prefix: stream.toLowerCase(), replicas: 3, timeoutMs: 10_000, clock: systemClock });

describe('conditional writes raced on a 3-node cluster', () => {
  it('a KV update, create or delete expecting one revision is accepted at most once, and a write to another key does not refuse it', async () => {
    const [a, b] = [await open(0, 'CAS'), await open(1, 'CAS')];
    try {
      let revision = await a.put('lease.0', { owner: 'none' });
      let bothWon = 0;
      let noneWon = 0;
      for (let round = 0; round < 60; round++) {
        const outcomes = await Promise.all([
          a.update('lease.0', { owner: 'a', round }, revision),
          b.update('lease.0', { owner: 'b', round }, revision),
          // A write to another key at the same time: must not make either lose.
          a.put(`member.${round % 2}`, { round }),
        ]);
        const won = outcomes.slice(0, 2).filter((o): o is number => o !== 'conflict');
        if (won.length > 1) bothWon++;
        if (won.length === 0) noneWon++;
        revision = won[0] ?? (await a.get('lease.0'))!.revision;
        expect((await b.get<{ round: number }>('lease.0'))?.value.round).toBe(round);
      }
      expect(bothWon).toBe(0);
      expect(noneWon).toBe(0);

      for (let round = 0; round < 20; round++) {
        const created = (await Promise.all([a.create(`cp.${round}`, 'a'), b.create(`cp.${round}`, 'b')])).filter((o) => o !== 'conflict');
        expect(created).toHaveLength(1);
        const head = (await a.get(`cp.${round}`))!;
        await Promise.all([a.remove(`cp.${round}`, head.revision), b.update(`cp.${round}`, 'b2', head.revision)]);
        // Deleted, or updated: never both (an update after the delete would expect a revision that is gone).
        const after = await b.get<string>(`cp.${round}`);
        expect(after === null || after.value === 'b2').toBe(true);
        expect(await a.create(`cp.${round}`, 'again')).toEqual(after === null ? expect.any(Number) : 'conflict');
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 120_000);

  it('two processes writing corrections at once never issue one cursor twice, and both serve the same feed', async () => {
    const stores = await Promise.all([0, 1].map((node) => clusterStores({ servers: [cluster.urls[node]!], stream: 'CORR', subjectPrefix: 'corr', replicas: 3 })));
    const entry = (clientId: string, start: number): Omit<Correction, 'cursor'> & { clientId: string } => ({
      clientId,
      key: 'k',
      start,
      end: start + 10,
      speed: 1,
      batch: 2,
      at: 0,
    });
    try {
      const rounds = 30;
      for (let round = 0; round < rounds; round++)
        await Promise.all([
          stores[0]!.corrections.write([entry('c1', round * 10)]),
          stores[1]!.corrections.write([entry('c2', round * 10)]),
          // Results uploaded at the same time share the stream: they must not refuse a correction.
          stores[0]!.results.put('c3', [{ key: 'k', start: round, end: round + 1, value: round, pane: 0 }], round),
        ]);
      for (const s of stores) await s.corrections.refresh();
      const feeds = stores.map((s) => [...s.corrections.since('c1', 0, 1_000).corrections, ...s.corrections.since('c2', 0, 1_000).corrections]);
      const cursors = feeds[0]!.map((c) => c.cursor);
      expect(new Set(cursors).size).toBe(2 * rounds);
      expect(feeds[1]).toEqual(feeds[0]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }, 120_000);

  it('a pane of an older term published after a newer fence is not served (fencing on read)', async () => {
    const pipeline: BatchPipeline = (events$) =>
      events$.pipe(
        eventTime({ timestamp: (e: { at: number }) => e.at, maxOutOfOrderness: 0 }),
        windowBy({ key: () => 'all', window: tumbling(100), aggregate: count() }),
      );
    const log = await jetStreamLog({ servers: cluster.urls, stream: 'FOLD', subjectPrefix: 'fold', replicas: 3, refreshMs: 0 });
    const speed = await clusterSpeedLayer({ servers: cluster.urls, stream: 'FOLD', subjectPrefix: 'fold', replicas: 3, pipeline, partitions: 1 });
    const nc = await connect({ servers: cluster.urls });
    try {
      // The partition's owner fenced its panes subject with its term when it started.
      const jsm = await jetstreamManager(nc);
      const fence = (await jsm.streams.getMessage('FOLD_VIEW', { last_by_subj: 'fold.view.speed.0' }))!.json<{ fence: number }>();
      expect(fence.fence).toBeGreaterThan(1);
      const pane = (epoch: number, start: number, value: number, p: number) =>
        jetstream(nc).publish('fold.view.speed.0', JSON.stringify({ epoch, results: [{ key: 'all', start, end: start + 100, value, pane: p, timing: 'late' }] }));
      const served = () => speed.rows({}).rows.map((r) => [r.start, r.value]);
      await pane(fence.fence, 0, 5, 100); // as the owner would
      await pane(fence.fence - 1, 0, 99, 101); // an old owner that has not learned yet
      await pane(fence.fence, 100, 1, 100); // a marker: once served, the stale pane was folded too
      await until('the marker pane to be served', () => served().length === 2, { timeoutMs: 10_000, everyMs: 20 });
      expect(served()).toEqual([
        [0, 5],
        [100, 1],
      ]);
    } finally {
      await nc.close();
      await speed.close();
      await log.close();
    }
  }, 60_000);

  it('one client appending to two processes at once: the log and a cluster partition read every sequence number once', async () => {
    const open = (node: number) => jetStreamLog({ servers: [cluster.urls[node]!], stream: 'RACE', subjectPrefix: 'race', replicas: 3, refreshMs: 0 });
    const [a, b] = [await open(0), await open(1)];
    const ev = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, ts: from + i, data: { n: from + i } }));
    try {
      // Retries that overlap but differ (a batch re-sent with more events to the other process), raced.
      for (let round = 0; round < 40; round++) {
        const base = round * 10;
        await Promise.all([a.append('c1', ev(base + 1, base + 6), 0), b.append('c1', ev(base + (round % 2 === 0 ? 1 : 4), base + 10), 0)]);
      }
      const reader = await open(2);
      const seqs: number[] = [];
      for await (const chunk of reader.read()) for (const e of chunk) seqs.push(e.seq);
      expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      expect(reader.clients()).toMatchObject([{ clientId: 'c1', ackedThrough: 400 }]);
      await reader.close();
      // A cluster partition counts each event once too.
      const pipeline: BatchPipeline = (events$) =>
        events$.pipe(
          eventTime({ timestamp: (e: { n: number }) => e.n, maxOutOfOrderness: 0 }),
          // Racing appends store some events after later ones: late, not dropped.
          windowBy({ key: () => 'all', window: tumbling(100), aggregate: count(), allowedLateness: 1_000 }),
        );
      const speed = await clusterSpeedLayer({ servers: cluster.urls, stream: 'RACE', subjectPrefix: 'race', replicas: 3, pipeline, partitions: 1 });
      try {
        const served = () => speed.rows({}).rows.map((r) => [r.start, r.value]);
        const want = JSON.stringify([[0, 99], [100, 100], [200, 100], [300, 100]]);
        await until('the partition to count every event', () => JSON.stringify(served()) === want, { timeoutMs: 20_000, everyMs: 20 }).catch(() => undefined);
        expect(served()).toEqual([
          [0, 99],
          [100, 100],
          [200, 100],
          [300, 100],
        ]);
      } finally {
        await speed.close();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);

  it('a log opened while the whole cluster restarts waits for its stream to elect a leader', async () => {
    const first = await jetStreamLog({ servers: cluster.urls, stream: 'RESTART', subjectPrefix: 'restart', replicas: 3, refreshMs: 0 });
    await first.append('c1', [{ seq: 1, ts: 1, data: {} }], 0);
    await first.close();
    for (const node of cluster.nodes) await node.kill();
    for (const node of cluster.nodes) await node.start();
    // Right after the restart the stream has no leader for a few seconds: its first requests time out.
    const log = await jetStreamLog({ servers: cluster.urls, stream: 'RESTART', subjectPrefix: 'restart', replicas: 3, refreshMs: 0, timeoutMs: 2_000 });
    try {
      await log.refresh();
      expect(log.clients()).toMatchObject([{ clientId: 'c1', ackedThrough: 1 }]);
    } finally {
      await log.close();
    }
  }, 90_000);
});
