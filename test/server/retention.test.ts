// Retention: segments deleted only once the batch layer made final every
// window they feed, the batch view persisted first and outliving them,
// frozen windows left alone by later runs, and the log reopened after it.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { count, createPipeline, eventTime, isRecord, type Timed, tumbling, windowBy, type WindowResult } from '../../src/index.js';
import { batchLayer } from '../../src/server/batch-layer.js';
import {
  batchView,
  fileCorrections,
  type FileLog,
  fileLog,
  fileResults,
  memoryCorrections,
  memoryLog,
  memoryResults,
  reconcile,
} from '../../src/server/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { until } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Click = { page: string; at: number | null };
const pipeline = (events$: Observable<Click>) =>
  events$.pipe(
    eventTime({ timestamp: (e: Click) => e.at as number, maxOutOfOrderness: 0 }),
    windowBy({ key: (e) => e.page, window: tumbling(1_000), aggregate: count() }),
  );

/** The batch answer over `events`: count by `page|start`. */
function batchOf(events: Click[]): Map<string, number> {
  const out = new Map<string, number>();
  const run = createPipeline(pipeline).open((r) => {
    if (!isRecord(r as Timed<unknown>)) return;
    const w = (r as { value: WindowResult<string, number> }).value;
    out.set(`${w.key}|${w.start}`, w.value);
  });
  run.pushAll([...events].sort((a, b) => (a.at ?? 0) - (b.at ?? 0)));
  run.end();
  return out;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function setup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'tidemark-retention-'));
  dirs.push(dataDir);
  const clock = virtualClock(0);
  const log = await fileLog(join(dataDir, 'log'), { segmentBytes: 4096 });
  const results = await fileResults(join(dataDir, 'results'));
  const corrections = await fileCorrections(join(dataDir, 'corrections'));
  const layer = (logged: FileLog, horizonMs = DAY) =>
    batchLayer({
      dataDir,
      pipeline,
      clock,
      open: async () => ({ log: logged, results, corrections, release: async () => {} }),
      retention: { log: logged, horizonMs },
    });
  /** Client `id` sends `n` clicks from event time `from` (10 ms apart), in one upload per 20, at receive time `clock`. */
  const sent = new Map<string, Click[]>();
  async function send(id: string, seqFrom: number, at: number[], watermark: number) {
    const events = at.map((t, i) => ({ seq: seqFrom + i, ts: t, data: { page: `/p${i % 2}`, at: t } as Click }));
    for (let i = 0; i < events.length; i += 20) await log.append(id, events.slice(i, i + 20), clock.now());
    await results.put(id, [], clock.now(), watermark);
    sent.set(id, [...(sent.get(id) ?? []), ...events.map((e) => e.data)]);
  }
  return { dataDir, clock, log, results, corrections, layer, send, sent };
}

const times = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i * 10);

describe('frozen windows and compaction', () => {
  it('reconcile leaves windows starting at or before frozenThrough alone: not corrected, not pending, out of global', async () => {
    const log = memoryLog();
    await log.append('c1', times(0, 300).map((t, i) => ({ seq: i + 1, ts: t, data: { page: `/p${i % 2}`, at: t } })), 0);
    const results = memoryResults();
    const wrong = [0, 1_000, 2_000].map((start) => ({ key: '/p0', start, end: start + 1_000, value: 1, pane: 0 }));
    await results.put('c1', wrong, 0, 1e12);
    const corrections = memoryCorrections();
    const report = await reconcile({ log, results, corrections, pipeline, frozenThrough: 1_000 });
    expect(report.frozen).toBe(4); // /p0 and /p1 at 0 and 1 000
    expect(report.written).toBe(2); // /p0 and /p1 at 2 000 (the client fired /p1 never)
    expect(corrections.since('c1', 0).corrections.every((c) => c.start === 2_000)).toBe(true);
    expect(report.global.every((w) => w.start === 2_000)).toBe(true);
    expect(report.frontier).toBe(3_000); // everything final: the end of the last window
    await expect(reconcile({ log, results, corrections, pipeline, frozenThrough: Number.NaN })).rejects.toThrow(/frozenThrough: must be a time/);
  });

  it('reconciles one client only when asked (clientId): its events read alone, the others left as they are', async () => {
    const log = memoryLog();
    const clicks = (n: number) => times(0, n).map((t, i) => ({ seq: i + 1, ts: t, data: { page: '/p0', at: t } }));
    await log.append('c1', clicks(100), 0);
    await log.append('c2', clicks(50), 0);
    const results = memoryResults();
    await results.put('c3', [{ key: '/p0', start: 0, end: 1_000, value: 9, pane: 0 }], 0); // results only
    const corrections = memoryCorrections();
    const report = await reconcile({ log, results, corrections, pipeline, clientId: 'c2' });
    expect(report).toMatchObject({ clients: 1, events: 50, written: 1 });
    expect(report.global).toMatchObject([{ key: '/p0', start: 0, value: 50 }]);
    expect(corrections.since('c1', 0).corrections).toEqual([]);
    expect(corrections.since('c3', 0).corrections).toEqual([]);
    await expect(reconcile({ log, results, corrections, pipeline, clientId: '../x' })).rejects.toThrow(/reconcile\.clientId: expected a client id/);
  });

  it("compacting corrections keeps each window's latest, with its cursor", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-compact-'));
    dirs.push(dir);
    const store = await fileCorrections(dir);
    const c = (start: number, batch: number) => ({ clientId: 'c1', key: 'k', start, end: start + 10, speed: 1, batch, at: 0 });
    await store.write([c(0, 2), c(10, 2)]);
    await store.write([c(0, 3)]);
    await store.compact!();
    expect(store.since('c1', 0).corrections.map((x) => [x.cursor, x.start, x.batch])).toEqual([
      [2, 10, 2],
      [3, 0, 3],
    ]);
    expect((await store.write([c(20, 1)]))[0]!.cursor).toBe(4);
    await store.close();
    const again = await fileCorrections(dir);
    expect(again.since('c1', 1).corrections.map((x) => x.cursor)).toEqual([2, 3, 4]);
    await again.close();
  });
});

describe('the batch layer on a schedule', () => {
  it('runs every interval on its clock (virtual time here), hands each report over, and stops', async () => {
    const t = await setup();
    await t.send('c1', 1, times(0, 100), 1e12);
    const layer = t.layer(t.log, 30 * DAY);
    const reports: number[] = [];
    const stop = layer.every(HOUR, (outcome) => {
      if ('report' in outcome) reports.push(outcome.report.events);
    });
    await t.clock.advance(HOUR - 1);
    expect(reports).toEqual([]);
    await t.clock.advance(1);
    await layer.idle();
    await t.clock.advance(2 * HOUR);
    await layer.idle();
    await until('three runs reported', () => reports.length === 3);
    expect(reports).toEqual([100, 100, 100]);
    stop();
    await t.clock.advance(5 * HOUR);
    await layer.idle();
    expect(reports).toHaveLength(3);
    await t.log.close();
  });
});

describe('retention', () => {
  it('deletes old segments only once their windows are final, persisting their batch values first; later runs leave them alone', async () => {
    const t = await setup();
    // Day 0: 600 clicks over [0, 6 000) ms of event time; the client's watermark reaches 4 500:
    // windows ending by 4 500 are final for it, the rest (from 4 000 on) are not.
    await t.send('c1', 1, times(0, 600), 4_500);
    await t.clock.advance(2 * DAY);
    // Day 2: more clicks, recent (inside the horizon).
    await t.send('c1', 601, times(6_000, 200), 4_500);
    // Its speed layer counted 1 in every window it fired (wrong: the batch layer corrects the final ones).
    const fired = [...batchOf(t.sent.get('c1')!).keys()].map((id) => {
      const [key, start] = id.split('|');
      return { key: key!, start: Number(start), end: Number(start) + 1_000, value: 1, pane: 0 };
    });
    await t.results.put('c1', fired, t.clock.now(), 4_500);
    const before = (await t.log.stats()).events;
    const layer = t.layer(t.log);
    const first = await layer.run();
    expect(first.failures).toEqual([]);
    expect(first.written).toBe(fired.filter((w) => w.end <= 4_500).length);
    expect(first.frontier).toBe(4_000); // the earliest window not final for c1
    const retention = first.retention!;
    expect(retention.segments).toBeGreaterThan(0);
    // Only events with a time before the frontier, received before the horizon, went.
    expect(retention.frozenThrough).toBeLessThan(4_000);
    const left: Click[] = [];
    for await (const chunk of t.log.read()) for (const e of chunk) left.push(e.data as Click);
    expect(left.length).toBe(before - retention.events);
    expect(left.every((e) => (e.at as number) > retention.frozenThrough - 1_000)).toBe(true);
    expect(Math.min(...left.map((e) => e.at as number))).toBeGreaterThan(0);
    // The batch view persisted the frozen windows with their complete values.
    const truth = batchOf(t.sent.get('c1')!);
    const persisted = await batchView(t.dataDir, 'c1');
    expect(persisted.length).toBe(retention.persisted - (await batchView(t.dataDir, null)).length);
    expect(persisted.length).toBeGreaterThan(0);
    for (const w of persisted) {
      expect(w.start).toBeLessThanOrEqual(retention.frozenThrough);
      expect(w.value).toBe(truth.get(`${w.key}|${w.start}`));
    }
    const global = await batchView(t.dataDir, null);
    expect(global.map((w) => `${w.key}|${w.start}`).sort()).toEqual(persisted.map((w) => `${w.key}|${w.start}`).sort());

    // Compacted: the results of frozen windows are gone; each window's latest correction stays.
    expect(t.results.get('c1').every((r) => r.start > retention.frozenThrough)).toBe(true);
    expect(t.results.report('c1')).toEqual({ watermark: 4_500, lastSeen: 2 * DAY });
    expect(t.corrections.since('c1', 0).corrections).toHaveLength(first.written);
    const reread = await fileResults(join(t.dataDir, 'results'), { readOnly: true });
    expect(reread.get('c1').length).toBe(t.results.get('c1').length);
    expect(reread.report('c1')).toEqual(t.results.report('c1'));
    expect((await fileCorrections(join(t.dataDir, 'corrections'))).since('c1', 0).corrections).toHaveLength(first.written);

    // A later run over what is left: frozen windows are skipped, nothing is corrected again.
    const second = await layer.run();
    expect(second.frozen).toBe(0); // their results were compacted away, and their events are gone
    expect(second.written).toBe(0);
    expect(second.pending).toBe(first.pending);
    expect(second.global.every((w) => w.start > retention.frozenThrough)).toBe(true);
    expect(second.retention!.segments).toBe(0); // nothing newer is both old and final

    // Reopened: the log starts after the retired segments, and the events they held stay covered.
    await t.log.close();
    const again = await fileLog(join(t.dataDir, 'log'), { segmentBytes: 4096 });
    const old = await again.append('c1', [{ seq: 1, ts: 0, data: { page: '/p0', at: 0 } }], t.clock.now());
    expect(old).toMatchObject({ appended: 0, duplicates: 1, ackedThrough: 800 });
    expect(again.clients()[0]).toMatchObject({ clientId: 'c1', ackedThrough: 800 });
    await again.close();
  });

  it('keeps a segment with an event inside the horizon, or an event without a time (and every segment after it)', async () => {
    const t = await setup();
    await t.send('c1', 1, times(0, 300), 1e12);
    const recent = await t.layer(t.log).run(); // all final, but nothing is older than the horizon yet
    expect(recent.retention).toMatchObject({ segments: 0, persisted: 0 });
    expect(await batchView(t.dataDir)).toEqual([]);
    await t.clock.advance(2 * DAY);
    // An event whose time the client could not read, in the oldest segment's place: nothing after it goes either.
    await t.log.close();
    const fresh = await setup();
    await fresh.log.append('c2', [{ seq: 1, ts: null, data: { page: '/p0', at: null } }], 0);
    await fresh.send('c2', 2, times(0, 300), 1e12);
    await fresh.clock.advance(2 * DAY);
    const untimed = await fresh.layer(fresh.log).run();
    expect(untimed.retention!.segments).toBe(0);
    await fresh.log.close();
  });

  it('finishes a retention step a crash interrupted: segments the record retired are deleted when the log opens', async () => {
    const t = await setup();
    await t.send('c1', 1, times(0, 600), 1e12);
    await t.log.close();
    const dir = join(t.dataDir, 'log');
    const segments = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    expect(segments.length).toBeGreaterThan(2);
    // The record says the first two are retired, but the crash came before they were deleted.
    writeFileSync(join(dir, 'RETIRED'), JSON.stringify({ through: 2, clients: {} }));
    const log = await fileLog(dir, { segmentBytes: 4096 });
    expect(existsSync(join(dir, segments[0]!))).toBe(false);
    expect(existsSync(join(dir, segments[1]!))).toBe(false);
    expect(existsSync(join(dir, segments[2]!))).toBe(true);
    await log.close();
    // A segment missing after the retired ones is refused, as any missing segment.
    rmSync(join(dir, segments[2]!));
    await expect(fileLog(dir, { segmentBytes: 4096 })).rejects.toThrow(/is missing \(retention deleted the segments through/);
  });
});
