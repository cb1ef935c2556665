// The partition runner in Node, over the in-memory storage: forwarding order,
// backoff, dead letters, a failing pipeline, snapshot → restore → continue;
// and createEdge's option checks.
import { map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import { createEdge, memoryStorage, openDurableObjectStore, partitionOf } from '../../src/edge/index.js';
import { type ForwardBatch, type ForwardOutcome, forwardBatches, PartitionRunner, type PartitionSettings } from '../../src/edge/partition.js';
import type { EdgeRecord } from '../../src/edge/durable-object-store.js';
import { InvalidOptionError } from '../../src/errors.js';

type Ev = { k: string; ts: number };
const pipeline = (events$: Observable<Ev>) =>
  events$.pipe(eventTime({ timestamp: (e: Ev) => e.ts, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: tumbling(10), aggregate: count() }));
const settings: PartitionSettings = { checkpointEveryEvents: 3, viewMaxWindows: 1000, minBackoffMs: 100, maxBackoffMs: 1000, maxRecordsPerAlarm: 2, now: () => 0, random: () => 0.5 };
const wire = (from: number, to: number, k = 'a') => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, ts: (from + i) * 4, data: { k, ts: (from + i) * 4 } }));

describe('PartitionRunner', () => {
  it('a restart at any point (checkpoint + replay) gives the results of one uninterrupted run', async () => {
    const events = wire(1, 40);
    const reference = await PartitionRunner.open(await openDurableObjectStore(memoryStorage()), pipeline, settings);
    for (let i = 0; i < 40; i += 4) await reference.ingest('c', events.slice(i, i + 4), 0);
    const want = (await reference.results()).windows;
    expect(want.length).toBeGreaterThan(10);
    for (const cut of [1, 2, 3, 5, 7, 9]) {
      const storage = memoryStorage();
      let runner = await PartitionRunner.open(await openDurableObjectStore(storage), pipeline, settings);
      for (let i = 0; i < 40; i += 4) {
        if (i / 4 === cut) runner = await PartitionRunner.open(await openDurableObjectStore(storage), pipeline, settings);
        await runner.ingest('c', events.slice(i, i + 4), 0);
      }
      expect((await runner.results()).windows, `restart before batch ${cut}`).toEqual(want);
    }
  });

  it('a failed checkpoint does not fail the ingest (the events are durable); the next one catches up, and a restart stays exact', async () => {
    const storage = memoryStorage();
    let failCheckpoints = 1;
    const flaky = {
      ...storage,
      put: (e: Record<string, unknown>) => ('k:meta' in e && failCheckpoints-- > 0 ? Promise.reject(new Error('quota')) : storage.put(e)),
      transaction: storage.transaction,
    };
    const runner = await PartitionRunner.open(await openDurableObjectStore(flaky), pipeline, settings);
    expect((await runner.ingest('c', wire(1, 4), 0)).outcome.appended).toBe(4);
    expect(await runner.results()).toMatchObject({ checkpoint: 0, processed: 4, trouble: { lastError: expect.stringMatching(/checkpoint: .*quota/) } });
    await runner.ingest('c', wire(5, 8), 0);
    expect((await runner.results()).checkpoint).toBe(8);
    await runner.ingest('c', wire(9, 9), 0);
    const again = await PartitionRunner.open(await openDurableObjectStore(storage), pipeline, settings);
    expect((await again.results()).windows).toEqual((await runner.results()).windows);
    expect((await again.results()).processed).toBe(9);
  });

  it('forwards in order, backs off exponentially with jitter on failure, pauses on a wrong secret, keeps refused batches aside, and stops when drained', async () => {
    const store = await openDurableObjectStore(memoryStorage());
    const runner = await PartitionRunner.open(store, pipeline, settings);
    for (const c of ['a', 'b', 'c']) await runner.ingest(c, wire(1, 2, c), 0);
    const sent: string[] = [];
    const answers: ForwardOutcome[] = [
      { kind: 'retry', reason: 'down' },
      { kind: 'retry', reason: 'down' },
      { kind: 'retry', reason: 'down', afterMs: 5_000 },
      { kind: 'pause', reason: 'wrong secret' },
    ];
    const send = async (r: ForwardBatch): Promise<ForwardOutcome> => {
      sent.push(r.clientId);
      return answers.shift() ?? (r.clientId === 'b' ? { kind: 'refused', status: 400, reason: 'bad' } : { kind: 'acked' });
    };
    // random() is 0.5: half of each ceiling (100, 200, 400 ms; a pause: 500 + 0.5 · 500).
    expect(await runner.forward(send)).toBe(50);
    expect((await runner.results()).trouble).toEqual({ lastError: 'forward: down', forwardAttempts: 1 });
    expect(await runner.forward(send)).toBe(100);
    expect(await runner.forward(send)).toBe(5_000); // Retry-After wins over a shorter backoff
    expect(await runner.forward(send)).toBe(750);
    expect(await runner.forward(send)).toBe(0); // two records per alarm; one left
    expect(await runner.forward(send)).toBeUndefined();
    expect(sent).toEqual(['a', 'a', 'a', 'a', 'a', 'b', 'c']);
    expect(await runner.results()).toMatchObject({ forwarded: 6, trouble: { lastError: null, forwardAttempts: 0 } });
  });

  it('merges consecutive records of a client into one request while sequence numbers increase', () => {
    const rec = (clientId: string, from: number, to: number, seq: number): EdgeRecord => ({
      seq, last: seq + to - from, clientId, receivedAt: 0, events: wire(from, to, clientId),
    });
    const records = [rec('a', 1, 2, 1), rec('a', 3, 4, 3), rec('a', 10, 12, 5), rec('a', 5, 6, 8), rec('b', 1, 1, 10), rec('a', 7, 7, 11)];
    const batches = forwardBatches(records);
    expect(batches.map((b) => [b.clientId, b.records.map((r) => r.seq), b.events])).toEqual([
      ['a', [1, 3, 5], 7],
      ['a', [8], 2],
      ['b', [10], 1],
      ['a', [11], 1],
    ]);
    expect(JSON.parse(batches[0]!.body)).toEqual({ clientId: 'a', events: [...wire(1, 4, 'a'), ...wire(10, 12, 'a')] });
    const many = Array.from({ length: 120 }, (_, i) => rec('c', i * 500 + 1, i * 500 + 500, i * 500 + 1));
    const split = forwardBatches(many); // 60 000 events, ~3.3 M characters: cut at 1 M characters, never inside a record
    expect(split.length).toBe(4);
    expect(split.reduce((n, b) => n + b.events, 0)).toBe(60_000);
    for (const b of split) expect(b.body.length).toBeLessThan(1_000_100);
    const tiny = Array.from({ length: 120 }, (_, i) => ({ ...rec('d', i * 500 + 1, i * 500 + 500, i * 500 + 1), events: Array.from({ length: 500 }, (_, j) => ({ seq: i * 500 + j + 1, ts: 0, data: 0 })) }));
    expect(forwardBatches(tiny.slice(0, 1)).map((b) => b.events)).toEqual([500]);
    for (const b of forwardBatches(tiny)) expect(b.events).toBeLessThanOrEqual(50_000); // the server's limit per request
  });

  it('a pipeline that throws marks the partition failed; events are still stored and forwarded', async () => {
    const boom = (events$: Observable<Ev>) =>
      pipeline(events$.pipe(map((e) => { if (e.ts > 10) throw new Error('bad key'); return e; })));
    const runner = await PartitionRunner.open(await openDurableObjectStore(memoryStorage()), boom, settings);
    const out = await runner.ingest('c', wire(1, 5), 0);
    expect(out.outcome.appended).toBe(5);
    const r = await runner.results();
    expect(r.failed).toEqual({ name: 'Error', message: 'bad key' });
    expect(r.processed).toBe(0); // processing stops where the pipeline failed: nothing after it is reflected
    expect(await runner.forward(async () => ({ kind: 'acked' }))).toBeUndefined();
    expect((await runner.results()).forwarded).toBe(5);
  });
});

describe('createEdge', () => {
  it('checks its options when called, saying how to fix them', () => {
    expect(() => createEdge({} as never)).toThrow(/createEdge.pipeline/);
    expect(() => createEdge({ pipeline, partitions: 0 })).toThrow(InvalidOptionError);
    expect(() => createEdge({ pipeline, partitions: 2000 })).toThrow(/at most 1024/);
    expect(() => createEdge({ pipeline, upstream: 'ftp://x' })).toThrow(/createEdge.upstream: expected an http\(s\) base URL/);
    expect(() => createEdge({ pipeline, checkpoint: { everyEvents: 0.5 } })).toThrow(/checkpoint.everyEvents/);
    expect(() => createEdge({ pipeline, partition: 3 } as never)).toThrow(/partition/);
  });

  it('answers a missing secret, upstream or binding with what to set', async () => {
    const edge = createEdge({ pipeline });
    const req = () => new Request('http://edge/v1/ingest', { method: 'POST', body: '{}' });
    const res = await edge.fetch(req(), {});
    expect(res.status).toBe(500); // docs/edge.md: "answered as a `500` whose message says what to set"
    let body = (await res.json()) as { error: { name: string; message: string } };
    expect(body.error).toMatchObject({ name: 'InvalidOptionError', message: expect.stringMatching(/wrangler secret put TIDEMARK_SECRET/) });
    body = (await (await edge.fetch(req(), { TIDEMARK_SECRET: 'a secret of at least 16 bytes' })).json()) as typeof body;
    expect(body.error.message).toMatch(/TIDEMARK_UPSTREAM/);
    body = (await (await edge.fetch(req(), { TIDEMARK_SECRET: 'a secret of at least 16 bytes', TIDEMARK_UPSTREAM: 'http://x' })).json()) as typeof body;
    expect(body.error.message).toMatch(/no Durable Object binding named PARTITIONS/);
  });

  it('spreads clients over partitions stably', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`client-${i}`, 4)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(partitionOf('c1', 4)).toBe(partitionOf('c1', 4));
  });
});
