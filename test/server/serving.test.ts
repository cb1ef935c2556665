// The serving layer in one process: the global speed layer over a real file
// log, the merged view, the HTTP routes (GET /v1/views, SSE with
// Last-Event-ID), scoped tokens, bad input, restarts and batch corrections.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { count, eventTime, session, tumbling, windowBy } from '../../src/index.js';
import type { ViewChange, ViewReset, ViewRow } from '../../src/protocol/index.js';
import {
  adminTokenFor,
  type BatchPipeline,
  createHandler,
  fileCorrections,
  fileLog,
  fileResults,
  globalSpeedLayer,
  readerTokenFor,
  tokenFor,
} from '../../src/server/index.js';
import { batchLayer } from '../../src/server/batch-layer.js';
import { promtoolProblems } from './promtool.js';
import { virtualClock } from '../../src/testing/index.js';

type Click = { page: string; at: number };
const pipeline: BatchPipeline<Click> = (events$) =>
  events$.pipe(
    eventTime({ timestamp: (e: Click) => e.at, maxOutOfOrderness: 0 }),
    windowBy({ key: (e) => e.page, window: tumbling(1_000), aggregate: count() }),
  );
const secret = 'the secret of the serving-layer test';
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tidemark-serving-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const clicks = (from: number, ats: number[], page = '/') => ats.map((at, i) => ({ seq: from + i, ts: at, data: { page, at } }));

async function open(dataDir: string, clock = virtualClock(1_000_000), idleTimeout = 10_000) {
  const log = await fileLog(join(dataDir, 'log'));
  const speed = await globalSpeedLayer({ dataDir, log, pipeline, clock, idleTimeout });
  return { log, speed, clock };
}

/** Reads SSE events from a response until `enough` says stop. */
async function readSse(res: Response, enough: (events: { event: string; id: number; data: unknown }[]) => boolean) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: { event: string; id: number; data: unknown }[] = [];
  let buf = '';
  while (!enough(events)) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const fields = Object.fromEntries(
        block
          .split('\n')
          .filter((l) => !l.startsWith(':') && l.includes(': '))
          .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
      );
      if (fields.event) events.push({ event: fields.event, id: Number(fields.id), data: JSON.parse(fields.data!) });
    }
  }
  await reader.cancel();
  return events;
}

describe('the global speed layer', () => {
  it('keeps one watermark per client: the slowest active client holds windows open', async () => {
    const { log, speed } = await open(tmp());
    await log.append('slow', clicks(1, [200]), 0);
    await log.append('fast', clicks(1, [100, 2_500]), 0);
    await speed.idle();
    expect(speed.rows({}).rows).toEqual([]); // slow is at 199: [0, 1000) is open though fast is at 2499
    await log.append('slow', clicks(2, [1_200]), 0);
    await speed.idle();
    expect(speed.rows({}).rows).toEqual([{ key: '/', start: 0, end: 1_000, value: 2, source: 'speed', final: false, version: 1 }]);
    expect(speed.status()).toMatchObject({ sources: 2, activeSources: 2 });
    await speed.close();
    await log.close();
  });

  it('does not let an idle client stall windows, and counts a client back after days as late', async () => {
    const hour = 3_600_000;
    const { log, speed, clock } = await open(tmp(), virtualClock(1_000_000), hour);
    await log.append('phone', clicks(1, [100]), 0);
    await log.append('laptop', clicks(1, [150, 5_000]), 0);
    await speed.idle();
    expect(speed.rows({}).rows).toEqual([]);
    // the laptop keeps sending; the phone goes quiet for more than the idle timeout (processing time)
    for (let t = 0; t < 6; t++) {
      await clock.advance(hour / 4);
      await log.append('laptop', clicks(3 + t, [5_000 + t]), 0);
    }
    await speed.idle();
    expect(speed.status()).toMatchObject({ sources: 2, activeSources: 1 });
    expect(speed.rows({}).rows.map((r) => [r.start, r.value])).toEqual([[0, 2]]);
    // days later, the phone comes back with an event for [0, 1000): behind the watermark, late (no allowed lateness)
    // Meanwhile the laptop went quiet too: with every client idle the watermark follows the clock, [5000, 6000) closes.
    await clock.advance(3 * 86_400_000);
    expect(speed.rows({}).rows.map((r) => [r.start, r.value])).toEqual([
      [0, 2],
      [5_000, 7],
    ]);
    await log.append('phone', clicks(2, [300]), 0);
    await speed.idle();
    expect(speed.status().lateRecords).toBe(1);
    expect(speed.status().activeSources).toBe(1);
    expect(speed.rows({ to: 1_000 }).rows.map((r) => [r.start, r.value])).toEqual([[0, 2]]); // the batch layer folds it in
    await speed.close();
    await log.close();
  });

  it('gives a client back after days exactly the late firings, late records and batch corrections the semantics say', async () => {
    const hour = 3_600_000;
    const dataDir = tmp();
    const clock = virtualClock(1_000_000);
    const log = await fileLog(join(dataDir, 'log'));
    const lateness: BatchPipeline<Click> = (events$) =>
      events$.pipe(
        eventTime({ timestamp: (e: Click) => e.at, maxOutOfOrderness: 0 }),
        windowBy({ key: (e) => e.page, window: tumbling(1_000), aggregate: count(), allowedLateness: 5_000 }),
      );
    const speed = await globalSpeedLayer({ dataDir, log, pipeline: lateness, clock, idleTimeout: hour });
    await log.append('phone', clicks(1, [100]), 0);
    await log.append('laptop', clicks(1, [200, 3_000]), 0);
    // Days pass; the phone is silent, the laptop keeps the stream going (its own events at 3 000 and on).
    let laptopSeq = 3;
    for (let t = 0; t < 3 * 24 * 4; t++) {
      await clock.advance(hour / 4);
      await log.append('laptop', clicks(laptopSeq++, [3_000 + t]), 0);
    }
    await speed.idle();
    expect(speed.status()).toMatchObject({ sources: 2, activeSources: 1 });
    expect(speed.rows({ to: 1_000 }).rows.map((r) => [r.value, r.version])).toEqual([[2, 1]]); // on time: phone's 100, laptop's 200
    // The phone comes back with an event for [0, 1000): the watermark (3 287) is within end + lateness (6 000): a late firing.
    await log.append('phone', clicks(2, [300]), 0);
    await speed.idle();
    expect(speed.rows({ to: 1_000 }).rows.map((r) => r.value)).toEqual([3]);
    expect(speed.status().lateRecords).toBe(0);
    // Active again, the phone holds the watermark at its own (299) until it catches up: then, with the laptop
    // at 7 000, it passes 6 000, and another old event of the phone is beyond the lateness: a late record.
    await log.append('laptop', clicks(laptopSeq++, [7_000]), 0);
    await log.append('phone', clicks(3, [7_100, 400]), 0);
    await speed.idle();
    expect(speed.status().lateRecords).toBe(1);
    expect(speed.rows({ to: 1_000 }).rows.map((r) => [r.value, r.source])).toEqual([[3, 'speed']]);
    // The batch layer folds it in: [0, 1000) becomes 4, batch, final.
    const results = await fileResults(join(dataDir, 'results'));
    const corrections = await fileCorrections(join(dataDir, 'corrections'));
    await batchLayer({ dataDir, pipeline: lateness, open: async () => ({ log, results, corrections, release: async () => {} }) }).run();
    await speed.refreshBatch();
    expect(speed.rows({ to: 1_000 }).rows.map((r) => [r.value, r.source, r.final])).toEqual([[4, 'batch', true]]);
    await speed.close();
    await log.close();
  });

  it('resumes from its checkpoint after a restart: the view equals an uninterrupted run, change ids go on', async () => {
    const dataDir = tmp();
    const one = await open(dataDir);
    await one.log.append('c1', clicks(1, [100, 1_100, 2_100]), 0);
    await one.speed.idle();
    const before = one.speed.rows({});
    await one.speed.close(); // a last checkpoint
    await one.log.close();
    const two = await open(dataDir);
    expect(two.speed.rows({})).toEqual(before);
    await two.log.append('c1', clicks(4, [3_100]), 0);
    await two.speed.idle();
    expect(two.speed.rows({}).rows.map((r) => [r.start, r.value, r.version])).toEqual([
      [0, 1, 1],
      [1_000, 1, 2],
      [2_000, 1, 3],
    ]);
    await two.speed.close();
    await two.log.close();

    // Uninterrupted, for comparison.
    const whole = await open(tmp());
    await whole.log.append('c1', clicks(1, [100, 1_100, 2_100, 3_100]), 0);
    await whole.speed.idle();
    expect(whole.speed.rows({}).rows.map((r) => [r.start, r.value])).toEqual([
      [0, 1],
      [1_000, 1],
      [2_000, 1],
    ]);
    await whole.speed.close();
    await whole.log.close();
  });

  it('refuses to restore a checkpoint of another pipeline, saying what to delete', async () => {
    const dataDir = tmp();
    const one = await open(dataDir);
    await one.log.append('c1', clicks(1, [100]), 0);
    await one.speed.idle();
    await one.speed.close();
    await one.log.close();
    const log = await fileLog(join(dataDir, 'log'));
    const other: BatchPipeline<Click> = (events$) =>
      events$.pipe(
        eventTime({ timestamp: (e: Click) => e.at, maxOutOfOrderness: 0 }),
        windowBy({ key: (e) => e.page, window: tumbling(1_000), aggregate: count(), id: 'renamed' }),
      );
    await expect(globalSpeedLayer({ dataDir, log, pipeline: other })).rejects.toThrow(/made by another pipeline.*delete that directory/);
    await log.close();
  });

  it('serves the batch value where the batch layer made a window final, equal to an independent batch computation', async () => {
    const dataDir = tmp();
    const { log, speed } = await open(dataDir);
    // c2's event for [0, 1000) is late for the speed layer (c1 moved the watermark past it while c2 was idle… here: c2 arrives after)
    await log.append('c1', clicks(1, [100, 1_500, 9_000]), 0);
    await speed.idle();
    await log.append('c2', clicks(1, [9_000]), 0);
    await log.append('c2', clicks(2, [200, 300]), 0); // behind c2's own watermark (8999): late
    await speed.idle();
    expect(speed.rows({ to: 1_000 }).rows.map((r) => [r.value, r.source])).toEqual([[1, 'speed']]);
    const results = await fileResults(join(dataDir, 'results'));
    const corrections = await fileCorrections(join(dataDir, 'corrections'));
    const batch = batchLayer({ dataDir, pipeline, open: async () => ({ log, results, corrections, release: async () => {} }) });
    await batch.run();
    await speed.refreshBatch();
    const rows = speed.rows({}).rows;
    // independent: count per (page, second) over every event in the log
    const expected = new Map<number, number>();
    for (const at of [100, 1_500, 9_000, 9_000, 200, 300]) expected.set(Math.floor(at / 1_000) * 1_000, (expected.get(Math.floor(at / 1_000) * 1_000) ?? 0) + 1);
    expect(rows.map((r) => [r.start, r.value, r.source, r.final])).toEqual(
      [...expected].sort((a, b) => a[0] - b[0]).map(([start, n]) => [start, n, 'batch', true]),
    );
    await speed.close();
    await log.close();
  });
});

describe('a changelog pipeline', () => {
  it('takes rows back: a session merge deletes the span it superseded, in the view and on the stream', async () => {
    const dataDir = tmp();
    const log = await fileLog(join(dataDir, 'log'));
    const speed = await globalSpeedLayer({
      dataDir,
      log,
      pipeline: (events$) =>
        events$.pipe(
          eventTime({ timestamp: (e: Click) => e.at, maxOutOfOrderness: 0 }),
          windowBy({ key: (e) => e.page, window: session(1_000), aggregate: count(), early: { count: 1 }, changelog: true }),
        ),
    });
    const handler = await createHandler({ log, secret, views: speed });
    const reader = await readerTokenFor(secret, 'r');
    await log.append('c1', clicks(1, [100]), 0);
    await speed.idle();
    expect(speed.rows({}).rows.map((r) => [r.start, r.end, r.value])).toEqual([[100, 1_100, 1]]);
    const stream = await handler(new Request('http://x/v1/views/stream', { headers: { authorization: `Bearer ${reader}`, 'last-event-id': '1' } }));
    const seen = readSse(stream, (ev) => ev.some((e) => (e.data as ViewChange).op === 'upsert'));
    await log.append('c1', clicks(2, [900]), 0); // grows the session: [100, 1100) is superseded by [100, 1900)
    await speed.idle();
    expect(speed.rows({}).rows.map((r) => [r.start, r.end, r.value])).toEqual([[100, 1_900, 2]]);
    const changes = (await seen).map((e) => e.data as ViewChange);
    expect(changes.map((c) => [c.op, c.row.start, c.row.end])).toEqual([
      ['delete', 100, 1_100],
      ['upsert', 100, 1_900],
    ]);
    await speed.close();
    await log.close();
  });
});

describe('the views API', () => {
  async function server() {
    const dataDir = tmp();
    const { log, speed, clock } = await open(dataDir);
    const handler = await createHandler({ log, secret, views: speed, maxStreamsPerReader: 2, metrics: () => speed.metrics() });
    const reader = await readerTokenFor(secret, 'wallboard');
    const get = (path: string, token = reader, headers: Record<string, string> = {}) =>
      handler(new Request(`http://x${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } }));
    const ingest = async (clientId: string, events: ReturnType<typeof clicks>) =>
      handler(
        new Request('http://x/v1/ingest', {
          method: 'POST',
          headers: { authorization: `Bearer ${await tokenFor(secret, clientId)}` },
          body: JSON.stringify({ clientId, events }),
        }),
      );
    return { dataDir, log, speed, clock, handler, get, ingest, reader };
  }

  it('answers rows by range and key, and streams every change after Last-Event-ID once', async () => {
    const s = await server();
    expect((await s.ingest('c1', [...clicks(1, [100, 1_100]), ...clicks(3, [2_100], '/b')])).status).toBe(200);
    await s.speed.idle();
    const all = (await (await s.get('/v1/views')).json()) as { rows: ViewRow[]; lastEventId: number };
    expect(all.rows.map((r) => [r.key, r.start])).toEqual([['/', 0], ['/', 1_000]]);
    expect(all.lastEventId).toBe(2);
    // The global speed layer's and the view's gauges, in a form Prometheus takes.
    const metrics = await (await s.get('/metrics')).text();
    expect(metrics).toMatch(/^tidemark_global_watermark_seconds 2\.099$/m); // events up to 2 100 ms, watermark = max - 1
    expect(await promtoolProblems(metrics)).toBe('');
    expect(((await (await s.get('/v1/views?from=1000&to=2000')).json()) as { rows: ViewRow[] }).rows.map((r) => r.start)).toEqual([1_000]);
    expect(((await (await s.get('/v1/views?key=%2Fb')).json()) as { rows: ViewRow[] }).rows).toEqual([]);

    // A new subscriber gets a reset (the whole view), then live changes.
    const first = await s.get('/v1/views/stream');
    expect(first.headers.get('content-type')).toBe('text/event-stream');
    const live = readSse(first, (ev) => ev.length >= 2);
    await s.ingest('c1', clicks(4, [3_100], '/b'));
    await s.speed.idle();
    const seen = await live;
    expect(seen[0]).toMatchObject({ event: 'reset', id: 2 });
    expect((seen[0]!.data as ViewReset).rows).toHaveLength(2);
    expect(seen[1]).toMatchObject({ event: 'change', id: 3, data: { op: 'upsert', row: { key: '/b', start: 2_000, value: 1 } } });

    // Missed changes while disconnected: resuming from id 3 sends 4 and 5, nothing else.
    await s.ingest('c1', clicks(5, [4_100, 5_100], '/b'));
    await s.speed.idle();
    const resumed = await readSse(await s.get('/v1/views/stream', s.reader, { 'last-event-id': '3' }), (ev) => ev.length >= 2);
    expect(resumed.map((e) => [e.event, e.id])).toEqual([
      ['change', 4],
      ['change', 5],
    ]);
    expect((resumed.map((e) => e.data) as ViewChange[]).map((c) => c.row.start)).toEqual([3_000, 4_000]);
    await s.speed.close();
    await s.log.close();
  });

  it('refuses bad input precisely and changes nothing', async () => {
    const s = await server();
    await s.ingest('c1', clicks(1, [100, 1_100]));
    await s.speed.idle();
    const error = async (res: Response) => [res.status, ((await res.json()) as { error: { message: string } }).error.message];
    expect(await error(await s.get('/v1/views?from=2000&to=1000'))).toEqual([400, expect.stringMatching(/^from: .*reversed/)]);
    expect(await error(await s.get('/v1/views?from=abc'))).toEqual([400, expect.stringMatching(/^from: must be a time/)]);
    expect(await error(await s.get(`/v1/views?key=${encodeURIComponent('a\u0000b')}`))).toEqual([400, expect.stringMatching(/^key: /)]);
    expect(await error(await s.get(`/v1/views?key=${'k'.repeat(300)}`))).toEqual([400, expect.stringMatching(/^key: /)]);
    expect(await error(await s.get('/v1/views?drop=table'))).toEqual([400, expect.stringMatching(/^drop: is not a parameter/)]);
    expect(await error(await s.get('/v1/views/stream', s.reader, { 'last-event-id': '-1' }))).toEqual([400, expect.stringMatching(/^Last-Event-ID/)]);
    expect((await s.handler(new Request('http://x/v1/views'))).status).toBe(401);
    expect(await error(await s.get('/v1/views', 'wallboard:nonsense'))).toEqual([401, expect.stringMatching(/not a Tidemark token/)]);
    const otherSecret = await readerTokenFor('another secret of 16 bytes or more', 'wallboard');
    expect(await error(await s.get('/v1/views', otherSecret))).toEqual([401, expect.stringMatching(/another secret/)]);
    const client = await tokenFor(secret, 'c1');
    expect(await error(await s.get('/v1/views', client))).toEqual([401, expect.stringMatching(/needs a reader token/)]);
    expect(await error(await s.get('/v1/views?clientId=c1', client))).toEqual([403, expect.stringMatching(/cannot read the view across all clients/)]);
    expect((await s.get('/v1/views', await adminTokenFor(secret))).status).toBe(200);
    // A reader token cannot ingest.
    const ingest = await s.handler(
      new Request('http://x/v1/ingest', {
        method: 'POST',
        headers: { authorization: `Bearer ${s.reader}` },
        body: JSON.stringify({ clientId: 'c1', events: clicks(3, [2_100]) }),
      }),
    );
    expect(await error(ingest)).toEqual([403, expect.stringMatching(/reader token reads views and cannot ingest/)]);
    // Too many concurrent streams from one reader: 429; closing one frees its place.
    const a = await s.get('/v1/views/stream');
    const b = await s.get('/v1/views/stream');
    expect(await error(await s.get('/v1/views/stream'))).toEqual([429, expect.stringMatching(/2 view streams open/)]);
    await a.body!.cancel();
    const c = await s.get('/v1/views/stream');
    expect(c.status).toBe(200);
    await b.body!.cancel();
    await c.body!.cancel();
    expect(((await (await s.get('/v1/views')).json()) as { rows: ViewRow[] }).rows).toHaveLength(1);
    expect(s.log.stats().events).toBe(2);
    await s.speed.close();
    await s.log.close();
  });

  it('lets client tokens read where the server allows it', async () => {
    const dataDir = tmp();
    const { log, speed } = await open(dataDir);
    const handler = await createHandler({ log, secret, views: speed, clientsMayReadViews: true });
    const res = await handler(
      new Request('http://x/v1/views?clientId=c1', { headers: { authorization: `Bearer ${await tokenFor(secret, 'c1')}` } }),
    );
    expect(res.status).toBe(200);
    await speed.close();
    await log.close();
  });
});
