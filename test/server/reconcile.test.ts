import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, eventTime, InvalidOptionError, records, tumbling, windowBy } from '../../src/index.js';
import type { WireResult } from '../../src/protocol/wire.js';
import {
  type BatchPipeline,
  type EventLog,
  fileCorrections,
  fileResults,
  memoryCorrections,
  memoryLog,
  memoryResults,
  reconcile,
} from '../../src/server/index.js';
import { batchWindows, latestPanes, runSync, seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface Click {
  readonly page: string;
  readonly ts: number;
}

const BOUND = 2_000;
const clickCounts = (events$: Observable<Click>) =>
  events$.pipe(
    eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: BOUND }),
    windowBy({ key: (e: Click) => e.page, window: tumbling(60_000), aggregate: count() }),
  );
const pipeline: BatchPipeline<Click> = clickCounts;
const batchOf = (events: readonly Click[]) =>
  batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.page, window: tumbling(60_000), aggregate: count() });

/** What a client computes (the speed layer) over its events in arrival order: late ones are dropped. */
function speedOf(arrival: readonly Click[]): WireResult[] {
  const out = runSync(arrival, (s: Observable<Click>) => clickCounts(s).pipe(records()));
  return latestPanes(out).map((w, i) => ({ ...w, pane: i % 2 }));
}

/** A client's events: `n` clicks over a few pages, arriving within the bound, plus `late` that arrive far too late. */
function clicks(seed: number, n: number, late = 0): Click[] {
  const rand = seededRandom(seed);
  const events = Array.from({ length: n }, (_, i) => ({ page: `/p${Math.floor(rand() * 3)}`, ts: 10_000 + i * 900 }));
  const arrival = shuffleWithin(events, (e) => e.ts, BOUND, rand);
  // Late events: old timestamps that arrive at the end, after their windows closed on the client.
  for (let i = 0; i < late; i++) arrival.push({ page: `/p${i % 3}`, ts: 10_000 + Math.floor(rand() * n * 450) });
  return arrival;
}

async function append(log: EventLog, clientId: string, arrival: readonly Click[], firstSeq = 1) {
  await log.append(
    clientId,
    arrival.map((data, i) => ({ seq: firstSeq + i, ts: data.ts, data })),
    0,
  );
}

const key = (w: { key: unknown; start: number }) => `${String(w.key)}@${w.start}`;
/** A client's watermark past every window of these tests: all of them are final for it. */
const FINISHED = 1e15;

describe('reconcile', () => {
  it('the batch view is the plain batch answer, events late on the client included; corrections exactly where speed differs', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    const arrival = clicks(1, 400, 25);
    await append(log, 'c1', arrival);
    const speed = speedOf(arrival);
    await results.put('c1', speed, 0, FINISHED);

    const report = await reconcile({ log, pipeline, results, corrections, now: () => 42 });

    const batch = batchOf(arrival);
    const speedValue = new Map(speed.map((w) => [key(w), w.value]));
    const expected = batch.filter((w) => speedValue.get(key(w)) !== w.value);
    expect(expected.length).toBeGreaterThan(0); // the late events changed some windows
    expect(expected.length).toBeLessThan(batch.length);
    const got = corrections.since('c1', 0).corrections;
    expect(got.map((c) => ({ key: c.key, start: c.start, end: c.end, speed: c.speed, batch: c.batch }))).toEqual(
      expected.map((w) => ({ key: w.key, start: w.start, end: w.end, speed: speedValue.get(key(w)) ?? null, batch: w.value })),
    );
    expect(got.every((c) => c.at === 42)).toBe(true);
    expect(report).toMatchObject({
      startedAt: 42,
      clients: 1,
      events: arrival.length,
      windows: batch.length,
      uploaded: speed.length,
      written: expected.length,
      skipped: 0,
      failures: [],
      passes: 1,
    });
    expect(report.global).toEqual(batch);
  });

  it('corrects windows the client never uploaded (speed null) and uploaded windows the batch lacks (batch null)', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    await append(log, 'c1', [
      { page: '/a', ts: 1_000 },
      { page: '/b', ts: 2_000 },
    ]);
    await results.put(
      'c1',
      [
        { key: '/a', start: 0, end: 60_000, value: 1, pane: 0 },
        { key: '/ghost', start: 0, end: 60_000, value: 4, pane: 0 },
      ],
      0,
      FINISHED,
    );
    const report = await reconcile({ log, pipeline, results, corrections });
    expect(corrections.since('c1', 0).corrections.map((c) => [c.key, c.speed, c.batch])).toEqual([
      ['/b', null, 1],
      ['/ghost', 4, null],
    ]);
    expect(report.written).toBe(2);
  });

  it('is idempotent: a second run over the same inputs writes nothing', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    for (let c = 0; c < 4; c++) {
      const arrival = clicks(10 + c, 200, 10);
      await append(log, `c${c}`, arrival);
      await results.put(`c${c}`, speedOf(arrival), 0, FINISHED);
    }
    const first = await reconcile({ log, pipeline, results, corrections });
    expect(first.written).toBeGreaterThan(0);
    const cursor = corrections.cursor();
    const second = await reconcile({ log, pipeline, results, corrections });
    expect(second.written).toBe(0);
    expect(second.skipped).toBe(first.written);
    expect(corrections.cursor()).toBe(cursor);
  });

  it('writes nothing for a window whose upload now equals the batch value, even after an earlier correction', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    await append(log, 'c1', [
      { page: '/a', ts: 1_000 },
      { page: '/a', ts: 2_000 },
    ]);
    await results.put('c1', [{ key: '/a', start: 0, end: 60_000, value: 1, pane: 0 }], 0, FINISHED);
    expect((await reconcile({ log, pipeline, results, corrections })).written).toBe(1);
    await results.put('c1', [{ key: '/a', start: 0, end: 60_000, value: 2, pane: 1 }], 1, FINISHED);
    const report = await reconcile({ log, pipeline, results, corrections });
    expect([report.written, report.skipped]).toEqual([0, 0]);
  });

  it('after new late events are appended, a second run writes only the windows they changed', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    const arrival = clicks(3, 400, 10);
    await append(log, 'c1', arrival);
    await results.put('c1', speedOf(arrival), 0, FINISHED);
    const first = await reconcile({ log, pipeline, results, corrections });
    const corrected = new Set(corrections.since('c1', 0).corrections.map(key));
    const before = new Map(batchOf(arrival).map((w) => [key(w), w.value]));

    // Days later, an offline device uploads old events: all late for the client.
    const extra: Click[] = [
      { page: '/p0', ts: 12_000 },
      { page: '/p0', ts: 13_000 },
      { page: '/p2', ts: 200_000 },
      { page: '/new', ts: 100_000 },
    ];
    await append(log, 'c1', extra, arrival.length + 1);
    const second = await reconcile({ log, pipeline, results, corrections });

    const after = batchOf([...arrival, ...extra]);
    const changed = after.filter((w) => before.get(key(w)) !== w.value);
    expect(changed.map(key).sort()).toEqual(['/new@60000', '/p0@0', '/p2@180000'].sort());
    const written = corrections.since('c1', first.written).corrections;
    expect(written.map((c) => [key(c), c.batch])).toEqual(changed.map((w) => [key(w), w.value]));
    expect(second.written).toBe(3);
    // The other earlier corrections still hold: skipped, not repeated.
    expect(second.skipped).toBe(first.written - changed.filter((w) => corrected.has(key(w))).length);
  });

  it('the global view is one run over every client together', async () => {
    const log = memoryLog();
    const all: Click[] = [];
    for (let c = 0; c < 5; c++) {
      const arrival = clicks(20 + c, 150, 5);
      all.push(...arrival);
      await append(log, `c${c}`, arrival);
    }
    const report = await reconcile({ log, pipeline, results: memoryResults(), corrections: memoryCorrections() });
    expect(report.global).toEqual(batchOf(all));
    expect(report.clients).toBe(5);
    expect(report.events).toBe(all.length);
  });

  it('reads a log larger than maxEventsInMemory in several passes, with interleaved clients, to the same result', async () => {
    const inner = memoryLog();
    const results = memoryResults();
    for (let c = 0; c < 6; c++) {
      const arrival = clicks(30 + c, 120, 8);
      await append(inner, `c${c}`, arrival);
      await results.put(`c${c}`, speedOf(arrival), 0, FINISHED);
    }
    // The same log, read back with clients interleaved in every chunk.
    const interleaved: EventLog = {
      ...inner,
      async *read(options) {
        if (options?.clientId !== undefined) {
          yield* inner.read(options);
          return;
        }
        const queues = [];
        for await (const chunk of inner.read()) queues.push([...chunk]);
        while (queues.some((q) => q.length > 0)) yield queues.flatMap((q) => q.splice(0, 7));
      },
    };
    const one = memoryCorrections();
    const many = memoryCorrections();
    const single = await reconcile({ log: inner, pipeline, results, corrections: one, now: () => 1 });
    const multi = await reconcile({ log: interleaved, pipeline, results, corrections: many, maxEventsInMemory: 300, now: () => 1 });
    expect(single.passes).toBe(1);
    expect(single.written).toBeGreaterThan(0);
    expect(multi.passes).toBe(3); // 6 clients of ~128 events, 300 at a time: one pass per pair
    expect(multi.global).toEqual(single.global);
    const strip = (s: typeof one) =>
      ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].flatMap((c) => s.since(c, 0).corrections.map(({ cursor, ...rest }) => rest));
    expect(strip(many)).toEqual(strip(one));
    expect([multi.events, multi.windows, multi.written]).toEqual([single.events, single.windows, single.written]);
  });

  it('accepts pipelines ending in records(), reports a failing client and goes on with the others', async () => {
    const log = memoryLog();
    await append(log, 'good', [{ page: '/a', ts: 1 }]);
    await append(log, 'bad', [{ page: undefined as unknown as string, ts: 1 }]);
    const corrections = memoryCorrections();
    const report = await reconcile({
      log,
      pipeline: (e$: Observable<Click>) => clickCounts(e$).pipe(records()),
      results: memoryResults(),
      corrections,
    });
    expect(report.failures.map((f) => [f.clientId, f.name])).toEqual([
      ['bad', 'InvalidRecordError'],
      [undefined, 'InvalidRecordError'],
    ]);
    expect(corrections.since('good', 0).corrections).toHaveLength(1);
    expect(corrections.since('bad', 0).corrections).toHaveLength(0);
  });

  it('says so when the pipeline emits something else than window results', async () => {
    const log = memoryLog();
    await append(log, 'c1', [{ page: '/a', ts: 1 }]);
    const report = await reconcile({
      log,
      pipeline: (e$: Observable<Click>) => e$,
      results: memoryResults(),
      corrections: memoryCorrections(),
    });
    expect(report.failures[0]?.message).toMatch(/end it with windowBy/);
  });

  it('corrects clients that uploaded results but have no events in the log', async () => {
    const results = memoryResults();
    await results.put('orphan', [{ key: '/a', start: 0, end: 60_000, value: 3, pane: 0 }], 0, FINISHED);
    const corrections = memoryCorrections();
    const report = await reconcile({ log: memoryLog(), pipeline, results, corrections });
    expect(report.clients).toBe(1);
    expect(corrections.since('orphan', 0).corrections.map((c) => [c.speed, c.batch])).toEqual([[3, null]]);
  });

  it('runs over the file stores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-reconcile-'));
    try {
      const log = memoryLog();
      const arrival = clicks(5, 300, 20);
      await append(log, 'c1', arrival);
      const results = await fileResults(dir);
      await results.put('c1', speedOf(arrival), 0, FINISHED);
      const corrections = await fileCorrections(dir);
      const first = await reconcile({ log, pipeline, results, corrections });
      expect(first.written).toBeGreaterThan(0);
      await corrections.close();
      await results.close();
      const [r2, c2] = [await fileResults(dir), await fileCorrections(dir)];
      expect(c2.since('c1', 0).corrections).toHaveLength(first.written);
      expect((await reconcile({ log, pipeline, results: r2, corrections: c2 })).written).toBe(0);
      await Promise.all([r2.close(), c2.close()]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes tens of thousands of corrections in several writes, cursors in window order', async () => {
    const log = memoryLog();
    const events = Array.from({ length: 25_000 }, (_, i) => ({ page: '/a', ts: i * 60_000 }));
    await append(log, 'c1', events);
    const corrections = memoryCorrections();
    let writes = 0;
    const counting = { ...corrections, write: (e: Parameters<typeof corrections.write>[0]) => (writes++, corrections.write(e)) };
    const report = await reconcile({ log, pipeline, results: memoryResults(), corrections: counting });
    expect(report.written).toBe(25_000);
    expect(writes).toBe(3);
    const all = corrections.since('c1', 0, 10_000).corrections;
    expect(all.map((c) => c.start)).toEqual(events.slice(0, 10_000).map((e) => e.ts));
  });

  it('corrects a window only once it is final for the client: its watermark passed end + allowedLateness, or it went silent', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    // In order, nothing late: the client's values are right, but it has fired only the first window.
    const events = [
      { page: '/a', ts: 1_000 },
      { page: '/a', ts: 61_000 },
      { page: '/a', ts: 62_000 },
    ];
    await append(log, 'c1', events);
    const fired = [{ key: '/a', start: 0, end: 60_000, value: 1, pane: 0 }];
    await results.put('c1', fired, 1_000, 62_000 - BOUND - 1);
    const first = await reconcile({ log, pipeline, results, corrections, now: () => 2_000 });
    // [60 000, 120 000) is not final for the client (watermark 59 999): nothing spurious.
    expect(first.written).toBe(0);
    expect(first.pending).toBe(1);

    // A late event the client dropped, then its watermark passes the second window without it firing with it.
    await append(log, 'c1', [{ page: '/a', ts: 30_000 }], 4);
    await results.put('c1', [{ key: '/a', start: 60_000, end: 120_000, value: 2, pane: 0 }], 3_000, 125_000);
    const second = await reconcile({ log, pipeline, results, corrections, now: () => 4_000 });
    expect(corrections.since('c1', 0).corrections.map((c) => [c.start, c.speed, c.batch])).toEqual([[0, 1, 2]]);
    expect([second.written, second.pending]).toEqual([1, 0]);
    expect((await reconcile({ log, pipeline, results, corrections, now: () => 5_000 })).written).toBe(0);
  });

  it('a client silent beyond the horizon has every window corrected; allowedLateness delays finality', async () => {
    const late = (events$: Observable<Click>) =>
      events$.pipe(
        eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: Click) => e.page, window: tumbling(60_000), aggregate: count(), allowedLateness: 30_000 }),
      );
    const log = memoryLog();
    await append(log, 'c1', [{ page: '/a', ts: 1_000 }, { page: '/a', ts: 2_000 }]);
    const results = memoryResults();
    await results.put('c1', [{ key: '/a', start: 0, end: 60_000, value: 1, pane: 0 }], 0, 80_000);
    const corrections = memoryCorrections();
    // 80 000 < 60 000 + 30 000: the client may still fire the window late.
    const early = await reconcile({ log, pipeline: late, results, corrections, now: () => 1_000 });
    expect([early.written, early.pending]).toEqual([0, 1]);
    // A week of silence: final whatever its watermark.
    const silent = await reconcile({ log, pipeline: late, results, corrections, now: () => 7 * 86_400_000 });
    expect([silent.written, silent.pending]).toEqual([1, 0]);
    const horizon = await reconcile({ log, pipeline: late, results, corrections: memoryCorrections(), now: () => 1_000, silenceHorizonMs: 500 });
    expect(horizon.written).toBe(1);
  });

  it("uses the pipeline's own event time, not the wire ts nor the log's order: nothing is late in a batch run", async () => {
    type Ev = { page: string; occurredAt: number };
    const byOccurred = (events$: Observable<Ev>) =>
      events$.pipe(
        eventTime({ timestamp: (e: Ev) => e.occurredAt, maxOutOfOrderness: 0 }),
        windowBy({ key: (e: Ev) => e.page, window: tumbling(60_000), aggregate: count() }),
      );
    const log = memoryLog();
    // Far out of order in the log, and a wire ts that is null or unrelated.
    const events: Ev[] = [{ page: '/a', occurredAt: 500_000 }, { page: '/a', occurredAt: 1_000 }, { page: '/a', occurredAt: 2_000 }];
    await log.append('c1', events.map((data, i) => ({ seq: i + 1, ts: i === 0 ? null : 9e12, data })), 0);
    const report = await reconcile({ log, pipeline: byOccurred, results: memoryResults(), corrections: memoryCorrections() });
    expect(report.global.map((w) => [w.start, w.value])).toEqual([[0, 2], [480_000, 1]]);
  });

  it('validates its options', async () => {
    const base = { log: memoryLog(), pipeline, results: memoryResults(), corrections: memoryCorrections() };
    await expect(reconcile({ ...base, log: {} as EventLog })).rejects.toThrow(InvalidOptionError);
    await expect(reconcile({ ...base, pipeline: 3 as never })).rejects.toThrow(/reconcile.pipeline/);
    await expect(reconcile({ ...base, maxEventsInMemory: 0 })).rejects.toThrow(/maxEventsInMemory/);
    await expect(reconcile({ ...base, silenceHorizonMs: -1 })).rejects.toThrow(/silenceHorizonMs: must be a number of ms > 0/);
  });
});
